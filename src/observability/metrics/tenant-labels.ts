/** The label every tenant past the cap shares. */
export const OTHER_TENANT = 'other';

/**
 * The `tenant` label of the metrics: the slug of each of the first `cap` tenants this process
 * sees, `other` for every later one, so thousands of tenants cannot multiply the series of
 * every tenant-labelled metric. Slugs are learnt when a key resolves (once per key and cache
 * lifetime, not per request); a label once given stays for the life of the process.
 */
export class TenantLabels {
  private readonly labels = new Map<string, string>();

  constructor(private readonly cap: number) {}

  /** Tells the slug of a tenant; past the cap nothing is kept, every later tenant is `other`. */
  learn(tenantId: string, slug: string): void {
    if (this.labels.size < this.cap && !this.labels.has(tenantId)) this.labels.set(tenantId, slug);
  }

  /** The label of a tenant: its slug if it was among the first `cap` seen, else `other`. */
  of(tenantId: string): string {
    return this.labels.get(tenantId) ?? OTHER_TENANT;
  }
}
