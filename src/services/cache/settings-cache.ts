import type { CacheSettings } from '../../domain/cache-settings.js';
import type { InvalidationBus } from '../keys/invalidation.js';

/**
 * Each tenant's cache settings in memory, so the request path reads no database once warm;
 * dropped on every instance when the tenant's settings change (the invalidation bus), as its
 * limits are. The lifetime is only a safety net behind that.
 */
export class CacheSettingsCache {
  private readonly entries = new Map<string, { settings: Promise<CacheSettings>; until: number }>();

  constructor(
    private readonly load: (tenantId: string) => Promise<CacheSettings>,
    bus: InvalidationBus,
    private readonly ttlMs = 60_000,
  ) {
    bus.subscribe((message) => {
      if ('tenantId' in message) this.entries.delete(message.tenantId);
    });
  }

  get(tenantId: string, now = Date.now()): Promise<CacheSettings> {
    const cached = this.entries.get(tenantId);
    if (cached !== undefined && cached.until > now) return cached.settings;
    // The promise is cached, so concurrent first requests share one query.
    const settings = this.load(tenantId);
    this.entries.set(tenantId, { settings, until: now + this.ttlMs });
    settings.catch(() => this.entries.delete(tenantId));
    return settings;
  }
}
