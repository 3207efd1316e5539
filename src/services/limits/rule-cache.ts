import type { InvalidationBus } from '../keys/invalidation.js';
import type { LimitRule, LimitRuleService } from './limit-rules.js';

/**
 * Each tenant's rules in memory, so the hot path reads no database once warm. A change is
 * announced on the bus and drops the tenant's entry on every instance; the lifetime is only
 * a safety net behind that.
 */
export class LimitRuleCache {
  private readonly entries = new Map<string, { rules: Promise<LimitRule[]>; until: number }>();

  constructor(
    private readonly rules: LimitRuleService,
    bus: InvalidationBus,
    private readonly ttlMs = 60_000,
  ) {
    bus.subscribe((message) => {
      if ('tenantId' in message) this.entries.delete(message.tenantId);
    });
  }

  get(tenantId: string, now = Date.now()): Promise<LimitRule[]> {
    const cached = this.entries.get(tenantId);
    if (cached !== undefined && cached.until > now) return cached.rules;
    // The promise is cached, so concurrent first requests share one query.
    const rules = this.rules.list(tenantId);
    this.entries.set(tenantId, { rules, until: now + this.ttlMs });
    rules.catch(() => this.entries.delete(tenantId));
    return rules;
  }
}
