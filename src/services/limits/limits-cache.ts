import type { BillingService } from '../billing/billing-service.js';
import type { InvalidationBus } from '../keys/invalidation.js';
import type { LimitRuleService } from './limit-rules.js';
import type { TenantLimits } from './limiter.js';
import type { QuotaService } from './quotas.js';

/**
 * Each tenant's rate limit rules and quotas in memory, with its price plan's versions when a
 * quota counts charges, so the hot path reads no database
 * once warm. A change is announced on the bus and drops the tenant's entry on every
 * instance; the lifetime is only a safety net behind that.
 */
export class LimitsCache {
  private readonly entries = new Map<string, { limits: Promise<TenantLimits>; until: number }>();

  constructor(
    private readonly sources: {
      rules: LimitRuleService;
      quotas: QuotaService;
      plans: Pick<BillingService, 'plans'>;
    },
    bus: InvalidationBus,
    private readonly ttlMs = 60_000,
  ) {
    bus.subscribe((message) => {
      if ('tenantId' in message) this.entries.delete(message.tenantId);
    });
  }

  get(tenantId: string, now = Date.now()): Promise<TenantLimits> {
    const cached = this.entries.get(tenantId);
    if (cached !== undefined && cached.until > now) return cached.limits;
    // The promise is cached, so concurrent first requests share one query.
    const limits = Promise.all([
      this.sources.rules.list(tenantId),
      this.sources.quotas.list(tenantId),
    ]).then(async ([rules, quotas]) => {
      // Every version, not just today's: one that takes effect later needs no announcement.
      const charged = quotas.some((quota) => quota.metric === 'charge');
      const plans = charged ? await this.sources.plans.plans(tenantId) : [];
      return { rules, quotas, plans };
    });
    this.entries.set(tenantId, { limits, until: now + this.ttlMs });
    limits.catch(() => this.entries.delete(tenantId));
    return limits;
  }
}
