import { type Kysely, sql } from 'kysely';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import type { Usage } from '../inference/usage.js';
import { NANOS_PER_UNIT, type PeriodWindow } from '../limits/quota-period.js';
import type { Quota } from '../limits/quotas.js';
import type { TenantService } from '../tenancy/tenant-service.js';

/** What one request that got a response used, as it is accounted. */
export interface UsageEvent {
  /** Made by the gateway, once per request: what makes a redelivery count once. */
  id: string;
  at: Date;
  /** The x-request-id the client saw; clients may choose it, so it is not a key. */
  requestId: string;
  tenantId: string;
  userId: string | null;
  keyId: string;
  model: string;
  provider: string;
  usage: Usage;
  /** In the price table's currency. */
  cost: number;
  latencyMs: number;
  timeToFirstTokenMs: number | null;
  status: number;
  streamed: boolean;
  clientDisconnected: boolean;
}

type QuotaSubject = Pick<Quota, 'scope' | 'subjectId' | 'metric'>;

const monthOf = (at: Date) =>
  `${at.getUTCFullYear()}_${String(at.getUTCMonth() + 1).padStart(2, '0')}`;

function monthBounds(month: string): [string, string] {
  const [year, mm] = month.split('_').map(Number) as [number, number];
  const from = new Date(Date.UTC(year, mm - 1, 1));
  const to = new Date(Date.UTC(year, mm, 1));
  return [from.toISOString(), to.toISOString()];
}

/**
 * Writes usage events into each tenant's `usage_records`, in batches, idempotently: an event
 * written twice (a redelivery, a retried batch) is counted once. Monthly partitions are
 * made as the first event of a month arrives.
 */
export class UsageRecords {
  /** Partitions known to exist, per database: checked once per process. */
  private readonly partitions = new Set<string>();

  constructor(private readonly tenants: TenantService) {}

  /** Writes one tenant's events; returns how many were new. */
  async write(tenantId: string, events: UsageEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const tenant = await this.tenants.get(tenantId);
    const db = this.tenants.database(tenant);
    for (const month of new Set(events.map((event) => monthOf(event.at))))
      await this.ensurePartition(db, `${tenant.databaseName}/${month}`, month);
    const result = await db
      .insertInto('usage_records')
      .values(
        events.map((event) => ({
          id: event.id,
          at: event.at,
          request_id: event.requestId,
          user_id: event.userId,
          key_id: event.keyId,
          model: event.model,
          provider: event.provider,
          input_tokens: event.usage.promptTokens,
          output_tokens: event.usage.completionTokens,
          cached_tokens: event.usage.cachedTokens,
          estimated: event.usage.estimated,
          cost: event.cost,
          latency_ms: Math.round(event.latencyMs),
          time_to_first_token_ms:
            event.timeToFirstTokenMs === null ? null : Math.round(event.timeToFirstTokenMs),
          status: event.status,
          streamed: event.streamed,
          client_disconnected: event.clientDisconnected,
        })),
      )
      .onConflict((conflict) => conflict.columns(['at', 'id']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0);
  }

  /**
   * What one quota's subject used in a period, as the quota counts it: prompt and completion
   * tokens, or spend in nanos (each row's cost rounded as the counter rounds it).
   */
  async usedIn(tenantId: string, quota: QuotaSubject, window: PeriodWindow): Promise<number> {
    const db = this.tenants.database(await this.tenants.get(tenantId));
    const measure =
      quota.metric === 'cost'
        ? sql<string>`coalesce(sum(round(cost * ${NANOS_PER_UNIT})), 0)`
        : sql<string>`coalesce(sum(input_tokens + output_tokens), 0)`;
    let query = db.selectFrom('usage_records').select(measure.as('used'));
    if (window.start) query = query.where('at', '>=', window.start);
    if (window.end) query = query.where('at', '<', window.end);
    if (quota.scope === 'user') query = query.where('user_id', '=', quota.subjectId);
    if (quota.scope === 'key') query = query.where('key_id', '=', quota.subjectId);
    const row = await query.executeTakeFirstOrThrow();
    return Number(row.used);
  }

  /** Whether the tenant's database answers at all: a failed write may be the data or the server. */
  async reachable(tenantId: string): Promise<boolean> {
    try {
      const db = this.tenants.database(await this.tenants.get(tenantId));
      await sql`select 1`.execute(db);
      return true;
    } catch {
      return false;
    }
  }

  private async ensurePartition(db: Kysely<TenantSchema>, known: string, month: string) {
    if (this.partitions.has(known)) return;
    const [from, to] = monthBounds(month);
    const name = `usage_records_${month}`;
    // Writers in several processes may meet here: they take turns, and the second finds it.
    await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext('usage_records.partitions'))`.execute(trx);
      const found = await sql`select 1 from pg_class where relname = ${name}`.execute(trx);
      if (found.rows.length > 0) return;
      await sql`create table ${sql.table(name)} partition of usage_records
        for values from (${sql.lit(from)}) to (${sql.lit(to)})`.execute(trx);
    });
    this.partitions.add(known);
  }
}
