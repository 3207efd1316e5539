import type { UsageRecord } from '../../domain/usage-record.js';
import { PricePlanRepository } from '../../storage/repositories/price-plans.js';
import { monthOf, UsageRecordRepository } from '../../storage/repositories/usage-records.js';
import { chargeOf, planAt } from '../billing/charge.js';
import { NANOS_PER_UNIT, type PeriodWindow } from '../limits/quota-period.js';
import type { Quota } from '../limits/quotas.js';
import type { TenantService } from '../tenancy/tenant-service.js';

/** What one request that got a response used: a usage record on its way to the database. */
export type UsageEvent = UsageRecord;

type QuotaSubject = Pick<Quota, 'scope' | 'subjectId' | 'metric'>;

/**
 * Writes usage events into each tenant's `usage_records`, in batches, idempotently: an event
 * written twice (a redelivery, a retried batch) is counted once. Monthly partitions are
 * made as the first event of a month arrives.
 */
export class UsageRecords {
  /** Partitions known to exist, per database: checked once per process. */
  private readonly partitions = new Set<string>();

  constructor(private readonly tenants: TenantService) {}

  private async records(tenantId: string, write = false) {
    // A write waits out a move's pause, then goes where the tenant's database is now.
    const tenant = await (write ? this.tenants.writable(tenantId) : this.tenants.get(tenantId));
    return { tenant, records: new UsageRecordRepository(this.tenants.database(tenant)) };
  }

  /** Writes one tenant's events; returns how many were new. */
  async write(tenantId: string, events: UsageEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const { tenant, records } = await this.records(tenantId, true);
    for (const month of new Set(events.map((event) => monthOf(event.at)))) {
      const known = `${tenant.databaseName}/${month}`;
      if (this.partitions.has(known)) continue;
      await records.ensureMonth(month);
      this.partitions.add(known);
    }
    // The charge is fixed here, from the plan version in effect at each record's time, so a
    // later price change never rewrites it. One read per batch: plans change rarely.
    const plans = await new PricePlanRepository(this.tenants.database(tenant)).list();
    const charges = events.map((event) => chargeOf(event, planAt(plans, event.at)));
    return records.insert(events, charges);
  }

  /**
   * What one quota's subject used in a period, as the quota counts it: prompt and completion
   * tokens, spend in nanos (each row's cost rounded as the counter rounds it), or the stored
   * charges in micro-units.
   */
  async usedIn(tenantId: string, quota: QuotaSubject, window: PeriodWindow): Promise<number> {
    const { records } = await this.records(tenantId);
    return records.used({
      metric: quota.metric,
      costUnit: NANOS_PER_UNIT,
      ...(quota.scope === 'user' && { userId: quota.subjectId }),
      ...(quota.scope === 'key' && { keyId: quota.subjectId }),
      start: window.start,
      end: window.end,
    });
  }

  /** Whether the tenant's database answers at all: a failed write may be the data or the server. */
  async reachable(tenantId: string): Promise<boolean> {
    try {
      await (await this.records(tenantId)).records.ping();
      return true;
    } catch {
      return false;
    }
  }
}
