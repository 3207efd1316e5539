import {
  MAX_QUOTA_AMOUNT,
  QUOTA,
  QUOTA_METRIC_NAMES,
  QUOTA_METRICS,
  QUOTA_PERIOD_NAMES,
  type Quota,
  type QuotaMetric,
  type QuotaPeriod,
} from '../../domain/quota.js';
import type { LimitScope } from '../../domain/roles.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { QuotaRepository } from '../../storage/repositories/quotas.js';
import { newId } from '../../utils/ids.js';
import { type Actor, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { ChangeRecorder } from '../audit/changes.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { checkSubject, subjectOf } from './subjects.js';

export type { Quota };

export interface SetQuotaInput {
  scope: LimitScope;
  subjectId?: string | null;
  metric: QuotaMetric;
  period: QuotaPeriod;
  amount: number;
  thresholds?: readonly number[];
}

export interface QuotaServiceOptions {
  tenants: TenantService;
  /** Writes and audits each change; every instance's cached quotas are dropped at once. */
  changes: ChangeRecorder;
}

const invalid = (message: string, param: string) =>
  new GatewayError('invalid_request', { message, param });

const isOneOf = <T extends string>(names: readonly T[], value: unknown): value is T =>
  (names as readonly unknown[]).includes(value);

/** `1e-10` as `0.0000000001`: amounts keep at most 10 decimals. */
const decimal = (value: number) => value.toFixed(10).replace(/\.?0+$/, '');

/** The amount, within what its metric can count. Inputs also come without HTTP's schema. */
function checkedAmount(metric: QuotaMetric, amount: unknown): number {
  if (typeof amount !== 'number' || !Number.isFinite(amount) || amount <= 0)
    throw invalid('amount must be a number greater than 0.', 'amount');
  if (amount > MAX_QUOTA_AMOUNT)
    throw invalid(`amount must be at most ${MAX_QUOTA_AMOUNT}.`, 'amount');
  const { whole, unit, decimals, min, max } = QUOTA_METRICS[metric];
  if (whole && !Number.isInteger(amount))
    throw invalid(
      `A ${metric} quota counts whole ${unit}: amount must be a whole number.`,
      'amount',
    );
  if (decimals !== null && Number(amount.toFixed(decimals)) !== amount)
    throw invalid(`A ${metric} amount has at most ${decimals} decimals.`, 'amount');
  if (amount > max) throw invalid(`A ${metric} amount must be at most ${max}.`, 'amount');
  if (amount < min) throw invalid(`A ${metric} amount must be at least ${decimal(min)}.`, 'amount');
  return amount;
}

/** The input's amount and thresholds, checked; thresholds sorted and deduplicated. */
function checked(input: SetQuotaInput): { amount: number; thresholds: number[] } {
  if (!isOneOf(QUOTA_METRIC_NAMES, input.metric))
    throw invalid(`metric must be one of ${QUOTA_METRIC_NAMES.join(', ')}.`, 'metric');
  if (!isOneOf(QUOTA_PERIOD_NAMES, input.period))
    throw invalid(`period must be one of ${QUOTA_PERIOD_NAMES.join(', ')}.`, 'period');
  const amount = checkedAmount(input.metric, input.amount);
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
  constructor(private readonly options: QuotaServiceOptions) {}

  async list(tenantRef: string): Promise<Quota[]> {
    const { db } = await this.options.tenants.open(tenantRef);
    return new QuotaRepository(db).list();
  }

  /** Creates the quota for the target, metric and period, or replaces the one there. */
  async set(
    tenantRef: string,
    input: SetQuotaInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ quota: Quota; created: boolean }> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const { scope, metric, period } = input;
    const target = { scope, subjectId: subjectOf(scope, input.subjectId, 'quota'), metric, period };
    const values = checked(input);
    const { before, after } = await this.options.changes.tenant(db, actor, {
      action: 'quota.set',
      kind: QUOTA,
      write: async (trx) => {
        await checkSubject(trx, tenant.id, scope, target.subjectId);
        const quotas = new QuotaRepository(trx);
        const before = await quotas.findTarget(target);
        return { before, after: await quotas.upsert(newId('quo'), target, values) };
      },
      invalidate: () => ({ tenantId: tenant.id }),
    });
    return { quota: after, created: before === null };
  }

  async delete(tenantRef: string, id: string, actor: Actor = SYSTEM_ACTOR): Promise<Quota> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const { before } = await this.options.changes.tenant(db, actor, {
      action: 'quota.delete',
      kind: QUOTA,
      write: async (trx) => {
        const quota = await new QuotaRepository(trx).delete(id);
        if (quota === null) throw new GatewayError('quota_not_found', { param: 'quota' });
        return { before: quota, after: null };
      },
      invalidate: () => ({ tenantId: tenant.id }),
    });
    return before;
  }
}
