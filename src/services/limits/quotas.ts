import { type Kysely, type Selectable, sql } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import type {
  LimitScope,
  QuotaMetric,
  QuotaPeriod,
  QuotasTable,
  TenantSchema,
} from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import { type Actor, auditChange, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { InvalidationBus } from '../keys/invalidation.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { checkSubject, subjectOf } from './subjects.js';

export const QUOTA_METRICS = ['tokens', 'cost'] as const satisfies readonly QuotaMetric[];
export const QUOTA_PERIODS = ['day', 'month', 'total'] as const satisfies readonly QuotaPeriod[];
/** The largest amount a quota may have, tokens or spend. */
export const MAX_QUOTA_AMOUNT = 1_000_000_000;
/**
 * The largest spend a budget may have: its counter holds billionths of a dollar, which stay
 * exact integers (below 2^53) only up to about nine million dollars.
 */
export const MAX_COST_AMOUNT = 9_000_000;
/** The smallest spend a budget may have: the 10 decimals the database keeps. */
const MIN_COST_AMOUNT = 1e-10;

export interface Quota {
  id: string;
  scope: LimitScope;
  /** The user or key the quota is for; null for the whole tenant. */
  subjectId: string | null;
  /** `tokens`: prompt and completion tokens; `cost`: spend in the price table's currency. */
  metric: QuotaMetric;
  /** `day` and `month`: UTC calendar periods; `total`: never resets. */
  period: QuotaPeriod;
  amount: number;
  /** Soft thresholds in percent of the amount, 1 to 100, ascending and distinct. */
  thresholds: number[];
  createdAt: Date;
  updatedAt: Date;
}

export interface SetQuotaInput {
  scope: LimitScope;
  subjectId?: string | null;
  metric: QuotaMetric;
  period: QuotaPeriod;
  amount: number;
  thresholds?: readonly number[];
}

function toQuota(row: Selectable<QuotasTable>): Quota {
  return {
    id: row.id,
    scope: row.scope,
    subjectId: row.subject_id,
    metric: row.metric,
    period: row.period,
    // numeric comes back as an exact string.
    amount: Number(row.amount),
    thresholds: row.thresholds.map(Number),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export function quotaJson(quota: Quota) {
  return {
    id: quota.id,
    scope: quota.scope,
    subject_id: quota.subjectId,
    metric: quota.metric,
    period: quota.period,
    amount: quota.amount,
    thresholds: quota.thresholds,
    created_at: quota.createdAt.toISOString(),
    updated_at: quota.updatedAt.toISOString(),
  };
}

const invalid = (message: string, param: string) =>
  new GatewayError('invalid_request', { message, param });

/** The input's amount and thresholds, checked; thresholds sorted and deduplicated. */
function checked(input: SetQuotaInput): { amount: number; thresholds: number[] } {
  if (!(QUOTA_METRICS as readonly string[]).includes(input.metric))
    throw invalid(`metric must be one of ${QUOTA_METRICS.join(', ')}.`, 'metric');
  if (!(QUOTA_PERIODS as readonly string[]).includes(input.period))
    throw invalid(`period must be one of ${QUOTA_PERIODS.join(', ')}.`, 'period');
  const { amount } = input;
  if (typeof amount !== 'number' || !Number.isFinite(amount) || amount <= 0)
    throw invalid('amount must be a number greater than 0.', 'amount');
  if (amount > MAX_QUOTA_AMOUNT)
    throw invalid(`amount must be at most ${MAX_QUOTA_AMOUNT}.`, 'amount');
  if (input.metric === 'tokens' && !Number.isInteger(amount))
    throw invalid(`A tokens quota counts whole tokens: amount must be a whole number.`, 'amount');
  if (input.metric === 'cost' && amount > MAX_COST_AMOUNT)
    throw invalid(`A cost amount must be at most ${MAX_COST_AMOUNT}.`, 'amount');
  if (input.metric === 'cost' && amount < MIN_COST_AMOUNT)
    throw invalid('A cost amount must be at least 0.0000000001.', 'amount');
  const thresholds = input.thresholds ?? [];
  for (const value of thresholds)
    if (!Number.isInteger(value) || value < 1 || value > 100)
      throw invalid(
        'thresholds are percentages of the amount: whole numbers from 1 to 100.',
        'thresholds',
      );
  return { amount, thresholds: [...new Set(thresholds)].sort((a, b) => a - b) };
}

/**
 * A tenant's token quotas and spend budgets, in its own database: one per target (the
 * tenant, a user or a key), metric and period. Every change is audited and announced, as
 * rate limit rules are, so every instance's cached quotas follow at once.
 */
export class QuotaService {
  constructor(private readonly options: { tenants: TenantService; bus?: InvalidationBus }) {}

  private async database(tenantRef: string) {
    const tenant = await this.options.tenants.get(tenantRef);
    return { tenant, db: this.options.tenants.database(tenant) };
  }

  async list(tenantRef: string): Promise<Quota[]> {
    const { db } = await this.database(tenantRef);
    const rows = await db.selectFrom('quotas').selectAll().orderBy('id').execute();
    return rows.map(toQuota);
  }

  /** Creates the quota for the target, metric and period, or replaces the one there. */
  async set(
    tenantRef: string,
    input: SetQuotaInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ quota: Quota; created: boolean }> {
    const { tenant, db } = await this.database(tenantRef);
    const subjectId = subjectOf(input.scope, input.subjectId, 'quota');
    const { amount, thresholds } = checked(input);
    if (subjectId !== null) await checkSubject(db, input.scope, subjectId);
    const before = await this.find(db, input.scope, subjectId, input.metric, input.period);
    const now = new Date();
    const { rows } = await sql<Selectable<QuotasTable>>`
      insert into quotas (id, scope, subject_id, metric, period, amount, thresholds,
        created_at, updated_at)
      values (${newId('quo')}, ${input.scope}, ${subjectId}, ${input.metric}, ${input.period},
        ${amount}, ${thresholds}::smallint[], ${now}, ${now})
      on conflict (scope, coalesce(subject_id, ''), metric, period) do update set
        amount = excluded.amount,
        thresholds = excluded.thresholds,
        updated_at = excluded.updated_at
      returning *`.execute(db);
    const quota = toQuota(rows[0] as Selectable<QuotasTable>);
    await auditChange(db as Kysely<unknown>, actor, {
      action: 'quota.set',
      targetType: 'quota',
      before: before,
      after: quota,
      json: quotaJson,
    });
    await this.options.bus?.publish({ tenantId: tenant.id });
    return { quota, created: before === null };
  }

  async delete(tenantRef: string, id: string, actor: Actor = SYSTEM_ACTOR): Promise<Quota> {
    const { tenant, db } = await this.database(tenantRef);
    const row = await db
      .deleteFrom('quotas')
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw new GatewayError('quota_not_found', { param: 'quota' });
    const quota = toQuota(row);
    await auditChange(db as Kysely<unknown>, actor, {
      action: 'quota.delete',
      targetType: 'quota',
      before: quota,
      after: null,
      json: quotaJson,
    });
    await this.options.bus?.publish({ tenantId: tenant.id });
    return quota;
  }

  private async find(
    db: Kysely<TenantSchema>,
    scope: LimitScope,
    subjectId: string | null,
    metric: QuotaMetric,
    period: QuotaPeriod,
  ): Promise<Quota | null> {
    const row = await db
      .selectFrom('quotas')
      .selectAll()
      .where('scope', '=', scope)
      .where(sql<boolean>`coalesce(subject_id, '') = ${subjectId ?? ''}`)
      .where('metric', '=', metric)
      .where('period', '=', period)
      .executeTakeFirst();
    return row === undefined ? null : toQuota(row);
  }
}
