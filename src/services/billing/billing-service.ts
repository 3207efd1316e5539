import { CREDIT, type Credit, PRICE_PLAN, type PricePlan } from '../../domain/billing.js';
import { CreditRepository, PricePlanRepository } from '../../storage/repositories/price-plans.js';
import { newId } from '../../utils/ids.js';
import { type Actor, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { ChangeRecorder } from '../audit/changes.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { planAt } from './charge.js';
import {
  type CreditInput,
  creditAmountOf,
  currencyOf,
  invalid,
  type PlanInput,
  planValuesOf,
  reasonOf,
  timeOf,
} from './inputs.js';
import { periodBounds, periodOf } from './periods.js';

export interface BillingServiceOptions {
  tenants: TenantService;
  changes: ChangeRecorder;
  /** The clock, for tests that bill months gone by. */
  now?: () => Date;
}

/**
 * A tenant's price plan versions and credit grants, in its own database. A plan change is a
 * new version from its effective time on, never earlier than now, so a charge already
 * computed never changes; every change is audited.
 */
export class BillingService {
  constructor(private readonly options: BillingServiceOptions) {}

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /** Every version, oldest first. */
  async plans(tenantRef: string): Promise<PricePlan[]> {
    const { db } = await this.options.tenants.open(tenantRef);
    return new PricePlanRepository(db).list();
  }

  /** The version in effect now and those still to come. */
  async plan(tenantRef: string): Promise<{ current: PricePlan | null; upcoming: PricePlan[] }> {
    const plans = await this.plans(tenantRef);
    const now = this.now();
    return {
      current: planAt(plans, now),
      upcoming: plans.filter((plan) => plan.effectiveAt > now),
    };
  }

  /** Adds a version, effective now or at `effective_at` (not in the past). */
  async setPlan(
    tenantRef: string,
    input: PlanInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<PricePlan> {
    const { db } = await this.options.tenants.open(tenantRef);
    const values = planValuesOf(input);
    const now = this.now();
    const effectiveAt =
      input.effective_at === undefined ? now : timeOf(input.effective_at, 'effective_at');
    if (effectiveAt < now)
      throw invalid(
        'effective_at must not be in the past: a price change never rewrites usage already charged.',
        'effective_at',
      );
    const { after } = await this.options.changes.tenant(db, actor, {
      action: 'price_plan.create',
      kind: PRICE_PLAN,
      write: async (trx) => {
        const repository = new PricePlanRepository(trx);
        const plans = await repository.list();
        if (plans.some((plan) => plan.effectiveAt.getTime() === effectiveAt.getTime()))
          throw invalid('A version of the plan takes effect at that time already.', 'effective_at');
        const before = planAt(plans, effectiveAt);
        // One invoice has one currency: a switch waits for the start of a period.
        if (
          before !== null &&
          before.currency !== values.currency &&
          periodBounds(periodOf(effectiveAt)).start.getTime() !== effectiveAt.getTime()
        )
          throw invalid(
            'A plan changes currency only from the start of a billing period (the first of a month, 00:00 UTC).',
            'currency',
          );
        const plan = await repository.insert({
          id: newId('plv'),
          effectiveAt,
          createdAt: now,
          ...values,
        });
        return { before: null, after: plan };
      },
    });
    if (after === null) throw new Error('unreachable: a created plan');
    return after;
  }

  async credits(tenantRef: string): Promise<Credit[]> {
    const { db } = await this.options.tenants.open(tenantRef);
    return new CreditRepository(db).list();
  }

  async grantCredit(
    tenantRef: string,
    input: CreditInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Credit> {
    const { db } = await this.options.tenants.open(tenantRef);
    const currency = currencyOf(input.currency);
    const amount = creditAmountOf(input.amount, currency);
    const reason = reasonOf(input.reason);
    const now = this.now();
    const expiresAt =
      input.expires_at === undefined || input.expires_at === null
        ? null
        : timeOf(input.expires_at, 'expires_at');
    if (expiresAt !== null && expiresAt <= now)
      throw invalid('expires_at must be in the future.', 'expires_at');
    const { after } = await this.options.changes.tenant(db, actor, {
      action: 'credit.grant',
      kind: CREDIT,
      write: async (trx) => {
        const credit = await new CreditRepository(trx).insert({
          id: newId('crd'),
          currency,
          amount,
          remaining: amount,
          reason,
          expiresAt,
          createdAt: now,
        });
        return { before: null, after: credit };
      },
    });
    if (after === null) throw new Error('unreachable: a granted credit');
    return after;
  }
}
