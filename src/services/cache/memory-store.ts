import {
  type CacheStats,
  type IdempotencyStore,
  type ResponseStore,
  type StoredValue,
  sizeOf,
} from './store.js';

interface Entry extends StoredValue {
  size: number;
  expiresAt: number;
}

interface TenantEntries {
  /** In insertion order, which is the order of storing: the first is the oldest. */
  entries: Map<string, Entry>;
  bytes: number;
  hits: number;
  misses: number;
}

/** One process, nothing shared: the embedded default. */
export class MemoryResponseStore implements ResponseStore {
  private readonly tenants = new Map<string, TenantEntries>();

  constructor(private readonly clock: () => number = Date.now) {}

  private tenant(tenantId: string): TenantEntries {
    let tenant = this.tenants.get(tenantId);
    if (tenant === undefined) {
      tenant = { entries: new Map(), bytes: 0, hits: 0, misses: 0 };
      this.tenants.set(tenantId, tenant);
    }
    return tenant;
  }

  private drop(tenant: TenantEntries, key: string): void {
    const entry = tenant.entries.get(key);
    if (entry === undefined) return;
    tenant.entries.delete(key);
    tenant.bytes -= entry.size;
  }

  /** Drops expired entries among the oldest `limit` (all of them without a limit). */
  private sweep(tenant: TenantEntries, now: number, limit = Number.POSITIVE_INFINITY): void {
    let looked = 0;
    for (const [key, entry] of tenant.entries) {
      if (++looked > limit) break;
      if (entry.expiresAt <= now) this.drop(tenant, key);
    }
  }

  async get(tenantId: string, key: string): Promise<StoredValue | null> {
    const tenant = this.tenants.get(tenantId);
    const entry = tenant?.entries.get(key);
    if (tenant === undefined || entry === undefined) return null;
    if (entry.expiresAt <= this.clock()) {
      this.drop(tenant, key);
      return null;
    }
    return { value: entry.value, storedAt: entry.storedAt };
  }

  async put(
    tenantId: string,
    key: string,
    value: string,
    options: { ttlMs: number; budgetBytes: number },
  ): Promise<boolean> {
    const size = sizeOf(value);
    if (size > options.budgetBytes || options.ttlMs <= 0) return false;
    const tenant = this.tenant(tenantId);
    const now = this.clock();
    this.drop(tenant, key);
    // A bounded sweep on the store path; the stats sweep all.
    this.sweep(tenant, now, 16);
    for (const oldest of tenant.entries.keys()) {
      if (tenant.bytes + size <= options.budgetBytes) break;
      this.drop(tenant, oldest);
    }
    tenant.entries.set(key, { value, storedAt: now, size, expiresAt: now + options.ttlMs });
    tenant.bytes += size;
    return true;
  }

  async count(tenantId: string, outcome: 'hit' | 'miss'): Promise<void> {
    const tenant = this.tenant(tenantId);
    if (outcome === 'hit') tenant.hits += 1;
    else tenant.misses += 1;
  }

  async stats(tenantId: string): Promise<CacheStats> {
    const tenant = this.tenants.get(tenantId);
    if (tenant === undefined) return { entries: 0, bytes: 0, hits: 0, misses: 0 };
    this.sweep(tenant, this.clock());
    const { entries, bytes, hits, misses } = tenant;
    return { entries: entries.size, bytes, hits, misses };
  }

  async purge(tenantId: string): Promise<number> {
    const count = this.tenants.get(tenantId)?.entries.size ?? 0;
    this.tenants.delete(tenantId);
    return count;
  }

  async close(): Promise<void> {
    this.tenants.clear();
  }
}

/** Idempotency keys in this process. */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly values = new Map<string, { value: string; expiresAt: number }>();

  constructor(private readonly clock: () => number = Date.now) {}

  async claim(tenantId: string, key: string, value: string, ttlMs: number) {
    const id = `${tenantId}\u0000${key}`;
    const now = this.clock();
    const held = this.values.get(id);
    if (held !== undefined && held.expiresAt > now) return held.value;
    // Expired keys go as new ones come, a few at a time from the oldest, so the map stays
    // about as large as the keys alive without a full scan per request.
    let looked = 0;
    for (const [other, entry] of this.values) {
      if (++looked > 16) break;
      if (entry.expiresAt <= now) this.values.delete(other);
    }
    this.values.set(id, { value, expiresAt: now + ttlMs });
    return null;
  }

  async set(tenantId: string, key: string, value: string, ttlMs: number): Promise<void> {
    const id = `${tenantId}\u0000${key}`;
    // Moved to the end: the map stays ordered by time set, which the sweep relies on.
    this.values.delete(id);
    this.values.set(id, { value, expiresAt: this.clock() + ttlMs });
  }

  async release(tenantId: string, key: string): Promise<void> {
    this.values.delete(`${tenantId}\u0000${key}`);
  }

  async close(): Promise<void> {
    this.values.clear();
  }
}
