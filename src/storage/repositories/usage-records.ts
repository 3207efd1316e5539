import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import type { UsageRecord } from '../../domain/usage-record.js';
import type { TenantSchema } from '../tenant-schema.js';
import type { ChargeParts, UsageGroup } from '../usage-charges.js';
import { summedCharges } from './summed-charges.js';

/** Whose usage a quota counts, over which period; null bounds: open on that side. */
export interface UsedFilter {
  /**
   * Prompt and completion tokens, spend in whole units of `costUnit` per currency unit, or
   * the records' stored charges in micro-units of the plan's currency.
   */
  metric: 'tokens' | 'cost' | 'charge';
  /** How many counted units one currency unit is (nanos: 1e9), each row rounded. */
  costUnit: number;
  userId?: string | null;
  keyId?: string | null;
  start: Date | null;
  end: Date | null;
}

/** `2026_11`: the suffix of the month's partition. */
export const monthOf = (at: Date) =>
  `${at.getUTCFullYear()}_${String(at.getUTCMonth() + 1).padStart(2, '0')}`;

function monthBounds(month: string): [string, string] {
  const [year, mm] = month.split('_').map(Number) as [number, number];
  const from = new Date(Date.UTC(year, mm - 1, 1));
  const to = new Date(Date.UTC(year, mm, 1));
  return [from.toISOString(), to.toISOString()];
}

/** Records charged under one of the plan versions, or under none. */
function unbilledIn(
  eb: ExpressionBuilder<TenantSchema, 'usage_records'>,
  planIds: readonly string[],
) {
  return planIds.length === 0
    ? eb('price_plan_id', 'is', null)
    : eb.or([eb('price_plan_id', 'is', null), eb('price_plan_id', 'in', [...planIds])]);
}

function chargeColumns(charge: ChargeParts | undefined) {
  if (charge === undefined) return {};
  return {
    price_plan_id: charge.planId,
    charge_basis: charge.basis,
    charge_input_micros: charge.input,
    charge_cached_micros: charge.cached,
    charge_output_micros: charge.output,
    charge_other_micros: charge.other,
  };
}

/** A tenant's `usage_records`, partitioned by month, in its own database. */
export class UsageRecordRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  /** Writes the records not written yet (by id and time); returns how many were new. */
  async insert(records: UsageRecord[], charges: readonly ChargeParts[]): Promise<number> {
    const result = await this.db
      .insertInto('usage_records')
      .values(
        records.map((record, index) => ({
          ...chargeColumns(charges[index]),
          id: record.id,
          at: record.at,
          request_id: record.requestId,
          user_id: record.userId,
          key_id: record.keyId,
          model: record.model,
          provider: record.provider,
          input_tokens: record.usage.promptTokens,
          output_tokens: record.usage.completionTokens,
          cached_tokens: record.usage.cachedTokens,
          estimated: record.usage.estimated,
          cost: record.cost,
          latency_ms: Math.round(record.latencyMs),
          time_to_first_token_ms:
            record.timeToFirstTokenMs === null ? null : Math.round(record.timeToFirstTokenMs),
          status: record.status,
          streamed: record.streamed,
          client_disconnected: record.clientDisconnected,
          cache_hit: record.cacheHit,
          saved_cost: record.savedCost,
          byok: record.byok ?? false,
          batch: record.batch ?? false,
        })),
      )
      .onConflict((conflict) => conflict.columns(['at', 'id']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0);
  }

  /** Makes the partition of `month` (`2026_11`) unless it exists. */
  async ensureMonth(month: string): Promise<void> {
    const [from, to] = monthBounds(month);
    const name = `usage_records_${month}`;
    // Writers in several processes may meet here: they take turns, and the second finds it.
    await this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext('usage_records.partitions'))`.execute(trx);
      const found = await sql`select 1 from pg_class where relname = ${name}`.execute(trx);
      if (found.rows.length > 0) return;
      await sql`create table ${sql.table(name)} partition of usage_records
        for values from (${sql.lit(from)}) to (${sql.lit(to)})`.execute(trx);
    });
  }

  /** What the filter's subject used in its period, as a quota counts it. */
  async used(filter: UsedFilter): Promise<number> {
    const measure = {
      tokens: sql<string>`coalesce(sum(input_tokens + output_tokens), 0)`,
      cost: sql<string>`coalesce(sum(round(cost * ${filter.costUnit})), 0)`,
      // The charge fixed when the record was written, never priced again.
      charge: sql<string>`coalesce(sum(charge_input_micros + charge_cached_micros + charge_output_micros + charge_other_micros), 0)`,
    }[filter.metric];
    // Cache hits spent nothing upstream: no quota or budget counts them.
    let query = this.db
      .selectFrom('usage_records')
      .select(measure.as('used'))
      .where('cache_hit', '=', false);
    if (filter.start) query = query.where('at', '>=', filter.start);
    if (filter.end) query = query.where('at', '<', filter.end);
    if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId);
    if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
    const row = await query.executeTakeFirstOrThrow();
    return Number(row.used);
  }

  /**
   * Usage not billed yet from before `end`, summed per period, model, plan version and basis:
   * what the next invoice bills. `invoiceId` instead reads what that invoice billed.
   */
  async groups(
    filter: { end: Date; planIds: readonly string[] } | { invoiceId: string },
  ): Promise<UsageGroup[]> {
    const cached = sql<string>`least(cached_tokens, input_tokens)`;
    let query = this.db
      .selectFrom('usage_records')
      .select([
        sql<string>`to_char(at at time zone 'UTC', 'YYYY-MM')`.as('period'),
        'model',
        'price_plan_id',
        'charge_basis',
        sql<string>`count(*)`.as('requests'),
        sql<string>`coalesce(sum(input_tokens - ${cached}), 0)`.as('input_tokens'),
        sql<string>`coalesce(sum(${cached}), 0)`.as('cached_tokens'),
        sql<string>`coalesce(sum(output_tokens), 0)`.as('output_tokens'),
        sql<string>`coalesce(sum(charge_input_micros), 0)`.as('charge_input'),
        sql<string>`coalesce(sum(charge_cached_micros), 0)`.as('charge_cached'),
        sql<string>`coalesce(sum(charge_output_micros), 0)`.as('charge_output'),
        sql<string>`coalesce(sum(charge_other_micros), 0)`.as('charge_other'),
        sql<string>`coalesce(sum(cost), 0)`.as('cost'),
      ]);
    query =
      'end' in filter
        ? query
            .where('invoice_id', 'is', null)
            .where('at', '<', filter.end)
            .where((eb) => unbilledIn(eb, filter.planIds))
        : query.where('invoice_id', '=', filter.invoiceId);
    const rows = await query
      .groupBy([sql`1`, 'model', 'price_plan_id', 'charge_basis'])
      .orderBy(sql`1`)
      .orderBy('model')
      .orderBy('price_plan_id')
      .orderBy('charge_basis')
      .execute();
    return rows.map((row) => ({
      period: row.period,
      model: row.model,
      planId: row.price_plan_id,
      basis: row.charge_basis,
      requests: Number(row.requests),
      inputTokens: Number(row.input_tokens),
      cachedTokens: Number(row.cached_tokens),
      outputTokens: Number(row.output_tokens),
      charge: summedCharges(row),
      cost: String(row.cost),
    }));
  }

  /** What the records of `[start, end)` were charged (micro-units) and cost (dollars, exact). */
  async totals(
    start: Date,
    end: Date,
  ): Promise<{ requests: number; charge: number; cost: string }> {
    const row = await this.db
      .selectFrom('usage_records')
      .select([
        sql<string>`count(*)`.as('requests'),
        sql<string>`coalesce(sum(charge_input_micros + charge_cached_micros + charge_output_micros + charge_other_micros), 0)`.as(
          'charge',
        ),
        sql<string>`coalesce(sum(cost), 0)`.as('cost'),
      ])
      .where('at', '>=', start)
      .where('at', '<', end)
      .executeTakeFirstOrThrow();
    return { requests: Number(row.requests), charge: Number(row.charge), cost: String(row.cost) };
  }

  /**
   * Marks the usage not billed yet from before `end` as billed by the invoice: the records
   * charged under one of `planIds` (the plan versions in the invoice's currency) or under none.
   */
  async markBilled(end: Date, invoiceId: string, planIds: readonly string[]): Promise<number> {
    const result = await this.db
      .updateTable('usage_records')
      .set({ invoice_id: invoiceId })
      .where('invoice_id', 'is', null)
      .where('at', '<', end)
      .where((eb) => unbilledIn(eb, planIds))
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Throws unless the database answers. */
  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }
}
