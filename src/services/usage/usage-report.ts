import {
  USAGE_GROUPS,
  type UsageGroup,
  type UsageReportResult,
  type UsageRow,
  type UsageTotals,
} from '../../domain/usage-report.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { UsageReportRepository } from '../../storage/repositories/usage-report.js';
import type { TenantService } from '../tenancy/tenant-service.js';

export type { UsageGroup, UsageReportResult, UsageRow, UsageTotals };
export { USAGE_GROUPS };

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

const invalid = (message: string, param: string) =>
  new GatewayError('invalid_request', { message, param });

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
    const { model, userId, keyId, own } = query;
    const summed = await new UsageReportRepository(db).summarise(
      { from, to, model, userId, keyId, own },
      groupBy,
    );
    return { from, to, groupBy, ...summed };
  }
}
