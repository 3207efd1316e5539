import { type RawBuilder, sql } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import type { TenantService } from '../tenancy/tenant-service.js';

export const USAGE_GROUPS = ['day', 'model', 'user', 'key'] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

/** The range when none is asked for: the last 30 days, ending now. */
export const DEFAULT_REPORT_DAYS = 30;
/** The longest range one report covers: a year, leap day included. */
export const MAX_REPORT_DAYS = 366;
const DAY_MS = 86_400_000;

export interface UsageReportQuery {
  /** The first instant counted; default: `DEFAULT_REPORT_DAYS` before `to`. */
  from?: Date;
  /** The first instant not counted; default: now. */
  to?: Date;
  /** What the rows are grouped by, in this order; default: `day`. */
  groupBy?: readonly UsageGroup[];
  model?: string;
  userId?: string;
  keyId?: string;
  /**
   * Only this caller's own usage: the rows of its user, or of its key when it has no user.
   * How a member reads the report, as it reads only its own keys.
   */
  own?: { userId: string | null; keyId: string };
}

export interface UsageTotals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  /** In the price table's currency. */
  cost: number;
  /** Requests answered with a status of 400 or more (499: the client went away). */
  errors: number;
  streamed: number;
}

/** One group: only the fields of the groups asked for are set. */
export interface UsageRow extends UsageTotals {
  /** The UTC day, `YYYY-MM-DD`. */
  day?: string;
  model?: string;
  /** Null for the keys that belong to no user. */
  userId?: string | null;
  keyId?: string;
}

export interface UsageReportResult {
  from: Date;
  to: Date;
  groupBy: UsageGroup[];
  rows: UsageRow[];
  totals: UsageTotals;
}

const invalid = (message: string, param: string) =>
  new GatewayError('invalid_request', { message, param });

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

const DATE = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * An ISO 8601 instant as the query string carries it: a date (`2026-11-01`, its 00:00 UTC)
 * or a date-time with a time zone. A time without a zone would depend on the server's.
 */
export function parseInstant(input: string, param: string): Date {
  // An unencoded '+' in a query string arrives as a space.
  const text = input.replace(/ (\d{2}:\d{2})$/, '+$1');
  const match = DATE.exec(text);
  const at = match === null ? Number.NaN : Date.parse(text);
  // Date.parse rolls 2026-02-30 over into March instead of refusing it.
  const [year, month, day] = (match?.slice(1, 4) ?? []).map(Number);
  const calendar = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 1));
  if (Number.isNaN(at) || calendar.getUTCMonth() + 1 !== month || calendar.getUTCDate() !== day)
    throw invalid(
      `Invalid value for '${param}': use an ISO 8601 date (2026-11-01) or date-time with a time zone (2026-11-01T00:00:00Z).`,
      param,
    );
  return new Date(at);
}

/** `day,model` into its groups: each known, none twice, at least one. */
export function parseGroupBy(text: string): UsageGroup[] {
  const groups = text.split(',').map((group) => group.trim());
  return checkGroupBy(groups.length === 1 && groups[0] === '' ? [] : groups);
}

function checkGroupBy(groups: readonly string[]): UsageGroup[] {
  const known = USAGE_GROUPS as readonly string[];
  const unknown = groups.find((group) => !known.includes(group));
  if (unknown !== undefined)
    throw invalid(
      `Unknown group '${unknown}' in 'group_by': use a comma-separated list of ${USAGE_GROUPS.join(', ')}.`,
      'group_by',
    );
  if (groups.length === 0)
    throw invalid(`'group_by' needs at least one of ${USAGE_GROUPS.join(', ')}.`, 'group_by');
  if (new Set(groups).size !== groups.length)
    throw invalid("'group_by' names a group twice.", 'group_by');
  return groups as UsageGroup[];
}

function rangeOf(query: UsageReportQuery, now: Date): { from: Date; to: Date } {
  for (const param of ['from', 'to'] as const) {
    const at = query[param];
    if (at !== undefined && Number.isNaN(at.getTime()))
      throw invalid(`Invalid value for '${param}': not a valid date.`, param);
  }
  const to = query.to ?? now;
  const from = query.from ?? new Date(to.getTime() - DEFAULT_REPORT_DAYS * DAY_MS);
  if (from.getTime() >= to.getTime())
    throw invalid(
      `'from' (${from.toISOString()}) must be before 'to' (${to.toISOString()}).`,
      'from',
    );
  if (to.getTime() - from.getTime() > MAX_REPORT_DAYS * DAY_MS)
    throw invalid(
      `The range from ${from.toISOString()} to ${to.toISOString()} is longer than ${MAX_REPORT_DAYS} days: ask for it in parts.`,
      'from',
    );
  return { from, to };
}

/**
 * Usage of a tenant from its usage records (the truth), summed by UTC day, model, user and
 * key. Read from the tenant's read replica when its server has one, so the newest requests
 * may show up a moment later.
 */
export class UsageReport {
  constructor(private readonly tenants: TenantService) {}

  async query(
    tenantRef: string,
    query: UsageReportQuery = {},
    now: Date = new Date(),
  ): Promise<UsageReportResult> {
    const groupBy = checkGroupBy(query.groupBy ?? ['day']);
    const { from, to } = rangeOf(query, now);
    const db = this.tenants.readDatabase(await this.tenants.get(tenantRef));

    const where = [sql`at >= ${from}`, sql`at < ${to}`];
    if (query.model !== undefined) where.push(sql`model = ${query.model}`);
    if (query.userId !== undefined) where.push(sql`user_id = ${query.userId}`);
    if (query.keyId !== undefined) where.push(sql`key_id = ${query.keyId}`);
    if (query.own !== undefined) {
      const { userId, keyId } = query.own;
      where.push(
        userId === null ? sql`key_id = ${keyId}` : sql`(key_id = ${keyId} or user_id = ${userId})`,
      );
    }
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
        coalesce(sum(input_tokens), 0) as input_tokens,
        coalesce(sum(output_tokens), 0) as output_tokens,
        coalesce(sum(cached_tokens), 0) as cached_tokens,
        coalesce(sum(cost), 0) as cost,
        count(*) filter (where status >= 400) as errors,
        count(*) filter (where streamed) as streamed
      from usage_records
      where ${sql.join(where, sql` and `)}
      group by grouping sets ((${sql.join(expressions)}), ())
      order by ${sql.join(expressions)}`.execute(db);

    const total = rows.find((row) => Number(row.is_total) !== 0);
    if (total === undefined) throw new Error('the grouping set () always yields a row');
    return {
      from,
      to,
      groupBy,
      rows: rows.filter((row) => row !== total).map((row) => rowOf(row, groupBy)),
      totals: totalsOf(total),
    };
  }
}
