import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { UsageGroup, UsageRow, UsageTotals } from '../../domain/usage-report.js';
import type { TenantSchema } from '../tenant-schema.js';

/** The rows a report sums: a time range, and every other filter given. */
export interface UsageSelection {
  /** The first instant counted. */
  from: Date;
  /** The first instant not counted. */
  to: Date;
  model?: string;
  userId?: string;
  keyId?: string;
  /** The rows of this user or of this key (of this key alone when the user is null). */
  own?: { userId: string | null; keyId: string };
}

// Literal SQL, never parameters: PostgreSQL matches the select list to GROUP BY by the text
// of the expressions, and `$1` and `$5` are different texts.
const GROUPS: Record<UsageGroup, { expression: RawBuilder<unknown>; column: string }> = {
  day: { expression: sql.raw(`to_char(at at time zone 'UTC', 'YYYY-MM-DD')`), column: 'day' },
  model: { expression: sql.raw('model'), column: 'model' },
  user: { expression: sql.raw('user_id'), column: 'user_id' },
  key: { expression: sql.raw('key_id'), column: 'key_id' },
};

/** Counts and sums come back from pg as strings (bigint, numeric). */
interface RawRow {
  day?: string;
  model?: string;
  user_id?: string | null;
  key_id?: string;
  is_total: number | string;
  requests: string | number;
  input_tokens: string | number;
  output_tokens: string | number;
  cached_tokens: string | number;
  cost: string | number;
  errors: string | number;
  streamed: string | number;
  cache_hits: string | number;
  saved_tokens: string | number;
  saved_cost: string | number;
}

function totalsOf(raw: RawRow): UsageTotals {
  return {
    requests: Number(raw.requests),
    inputTokens: Number(raw.input_tokens),
    outputTokens: Number(raw.output_tokens),
    cachedTokens: Number(raw.cached_tokens),
    cost: Number(raw.cost),
    errors: Number(raw.errors),
    streamed: Number(raw.streamed),
    cacheHits: Number(raw.cache_hits),
    savedTokens: Number(raw.saved_tokens),
    savedCost: Number(raw.saved_cost),
  };
}

function rowOf(raw: RawRow, groupBy: readonly UsageGroup[]): UsageRow {
  const row: UsageRow = totalsOf(raw);
  for (const group of groupBy) {
    if (group === 'day') row.day = raw.day;
    if (group === 'model') row.model = raw.model;
    if (group === 'user') row.userId = raw.user_id ?? null;
    if (group === 'key') row.keyId = raw.key_id;
  }
  return row;
}

function conditions(selection: UsageSelection) {
  const where = [sql`at >= ${selection.from}`, sql`at < ${selection.to}`];
  if (selection.model !== undefined) where.push(sql`model = ${selection.model}`);
  if (selection.userId !== undefined) where.push(sql`user_id = ${selection.userId}`);
  if (selection.keyId !== undefined) where.push(sql`key_id = ${selection.keyId}`);
  if (selection.own !== undefined) {
    const { userId, keyId } = selection.own;
    where.push(
      userId === null ? sql`key_id = ${keyId}` : sql`(key_id = ${keyId} or user_id = ${userId})`,
    );
  }
  return sql.join(where, sql` and `);
}

/** Sums of a tenant's `usage_records`: the usage report's one query. */
export class UsageReportRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  /** The selected rows summed per group (ordered by the groups), and over all of them. */
  async summarise(
    selection: UsageSelection,
    groupBy: readonly UsageGroup[],
  ): Promise<{ rows: UsageRow[]; totals: UsageTotals }> {
    const expressions = groupBy.map((group) => GROUPS[group].expression);
    const columns = groupBy.map(
      (group) => sql`${GROUPS[group].expression} as ${sql.ref(GROUPS[group].column)}`,
    );
    // One statement for the groups and the totals, so both see the same rows even on a
    // replica that applies changes between two statements.
    const { rows } = await sql<RawRow>`
      select ${sql.join(columns)},
        grouping(${sql.join(expressions)}) as is_total,
        count(*) as requests,
        coalesce(sum(input_tokens) filter (where not cache_hit), 0) as input_tokens,
        coalesce(sum(output_tokens) filter (where not cache_hit), 0) as output_tokens,
        coalesce(sum(cached_tokens) filter (where not cache_hit), 0) as cached_tokens,
        coalesce(sum(cost), 0) as cost,
        count(*) filter (where status >= 400) as errors,
        count(*) filter (where streamed) as streamed,
        count(*) filter (where cache_hit) as cache_hits,
        coalesce(sum(input_tokens + output_tokens) filter (where cache_hit), 0) as saved_tokens,
        coalesce(sum(saved_cost), 0) as saved_cost
      from usage_records
      where ${conditions(selection)}
      group by grouping sets ((${sql.join(expressions)}), ())
      order by ${sql.join(expressions)}`.execute(this.db);
    const total = rows.find((row) => Number(row.is_total) !== 0);
    if (total === undefined) throw new Error('the grouping set () always yields a row');
    return {
      rows: rows.filter((row) => row !== total).map((row) => rowOf(row, groupBy)),
      totals: totalsOf(total),
    };
  }
}
