import { type Kysely, sql } from 'kysely';
import type { UsageRecord } from '../../domain/usage-record.js';
import type { TenantSchema } from '../tenant-schema.js';

/** Whose usage a quota counts, over which period; null bounds: open on that side. */
export interface UsedFilter {
  /** Prompt and completion tokens, or spend in whole units of `costUnit` per currency unit. */
  metric: 'tokens' | 'cost';
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

/** A tenant's `usage_records`, partitioned by month, in its own database. */
export class UsageRecordRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  /** Writes the records not written yet (by id and time); returns how many were new. */
  async insert(records: UsageRecord[]): Promise<number> {
    const result = await this.db
      .insertInto('usage_records')
      .values(
        records.map((record) => ({
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
    const measure =
      filter.metric === 'cost'
        ? sql<string>`coalesce(sum(round(cost * ${filter.costUnit})), 0)`
        : sql<string>`coalesce(sum(input_tokens + output_tokens), 0)`;
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

  /** Throws unless the database answers. */
  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }
}
