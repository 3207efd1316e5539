import type { InvalidationBus } from '../keys/invalidation.js';

/** A tenant's opened keys by provider: the key, or why it did not open. */
export type OpenedKeys = ReadonlyMap<string, string | Error>;

/**
 * Each tenant's opened provider keys in memory, so the request path reads no database once
 * warm. A change is announced on the bus and drops the tenant's entry on every instance; the
 * lifetime is a safety net behind that. A tenant without keys is cached too (an empty map),
 * so its requests cost nothing either.
 */
export class ProviderKeyCache {
  private readonly entries = new Map<string, { keys: Promise<OpenedKeys>; until: number }>();

  constructor(
    private readonly load: (tenantId: string) => Promise<OpenedKeys>,
    bus: InvalidationBus | undefined,
    private readonly ttlMs: number,
    private readonly maxEntries = 100_000,
  ) {
    // An entry dropped while its load is in flight is not put back: whoever asks next loads
    // again, and sees the change.
    bus?.subscribe((message) => {
      if ('tenantId' in message) this.entries.delete(message.tenantId);
    });
  }

  /** The tenant's key for the provider, null for none; throws when it is stored but unreadable. */
  async get(tenantId: string, providerId: string, now = Date.now()): Promise<string | null> {
    const opened = (await this.keysOf(tenantId, now)).get(providerId);
    if (opened === undefined) return null;
    if (opened instanceof Error) throw opened;
    return opened;
  }

  private keysOf(tenantId: string, now: number): Promise<OpenedKeys> {
    const cached = this.entries.get(tenantId);
    if (cached !== undefined && cached.until > now) return cached.keys;
    // The promise is cached, so concurrent first requests share one load.
    const keys = this.load(tenantId);
    const entry = { keys, until: now + this.ttlMs };
    if (this.entries.size >= this.maxEntries) {
      // Map order is insertion order: drop the oldest tenant.
      const [oldest] = this.entries.keys();
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(tenantId, entry);
    // A failed load (database away) is not remembered: the next request tries again.
    keys.catch(() => {
      if (this.entries.get(tenantId) === entry) this.entries.delete(tenantId);
    });
    return keys;
  }

  /** Forgets every tenant, for tests and shutdown: plaintext keys leave memory with it. */
  clear(): void {
    this.entries.clear();
  }
}
