import type { CacheSettings } from '../../domain/cache-settings.js';
import type { InvalidationBus } from '../keys/invalidation.js';

/**
 * Something of each tenant in memory (its settings, its database), so the request path
 * reads no database once warm; dropped on every instance when the tenant changes (the
 * invalidation bus: its settings changed, it was suspended or deleted), as its limits are.
 * The lifetime is only a safety net behind that.
 */
export class TenantMemo<T> {
  private readonly entries = new Map<string, { value: Promise<T>; until: number }>();

  constructor(
    private readonly load: (tenantId: string) => Promise<T>,
    bus: InvalidationBus,
    private readonly ttlMs = 60_000,
  ) {
    bus.subscribe((message) => {
      if ('tenantId' in message) this.entries.delete(message.tenantId);
    });
  }

  get(tenantId: string, now = Date.now()): Promise<T> {
    const cached = this.entries.get(tenantId);
    if (cached !== undefined && cached.until > now) return cached.value;
    // The promise is cached, so concurrent first requests share one query.
    const value = this.load(tenantId);
    this.entries.set(tenantId, { value, until: now + this.ttlMs });
    value.catch(() => this.entries.delete(tenantId));
    return value;
  }
}

/** Each tenant's cache settings in memory. */
export class CacheSettingsCache extends TenantMemo<CacheSettings> {}
