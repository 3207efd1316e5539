import type { Credit, CreditApplied, InvoiceLine, PricePlan } from '../../domain/billing.js';
import { type Currency, divideHalfEven, microsPerMinor, toMinorUnit } from '../../domain/money.js';
import type { UsageGroup } from '../../storage/usage-charges.js';
import { periodBounds } from './periods.js';

const percent = (ppm: number) => `${ppm / 10_000}%`;

/** One group's lines: one per token kind on the rate card, one otherwise; none for nothing. */
function groupLines(group: UsageGroup, plan: PricePlan | undefined, invoicePeriod: string) {
  const kind = group.period === invoicePeriod ? ('usage' as const) : ('adjustment' as const);
  const base = { kind, model: group.model, period: group.period };
  const late = kind === 'adjustment' ? ` (${group.period}, arrived after its invoice)` : '';
  const rate = plan?.rates[group.model];
  const lines: InvoiceLine[] = [];
  switch (group.basis) {
    case 'rate_card':
    case 'batch': {
      // Batch lines: their own invoice lines, at half the rate card's unit prices.
      const batch = group.basis === 'batch';
      const unit = (price: number | undefined) =>
        price === undefined ? null : batch ? Math.round(price / 2) : price;
      for (const [tokenKind, quantity, unitPrice, amount] of [
        ['input', group.inputTokens, rate?.input, group.charge.input],
        ['cached input', group.cachedTokens, rate?.cachedInput, group.charge.cached],
        ['output', group.outputTokens, rate?.output, group.charge.output],
      ] as const)
        if (quantity > 0 || amount !== 0)
          lines.push({
            ...base,
            description: `${group.model} ${batch ? 'batch ' : ''}${tokenKind} tokens${late}`,
            quantity,
            unit: 'tokens',
            unitPrice: unit(unitPrice),
            amount,
          });
      return lines;
    }
    case 'cost_plus':
      return [
        {
          ...base,
          description: `${group.model} at provider cost plus ${percent(plan?.markupPpm ?? 0)}${late}`,
          quantity: group.requests,
          unit: 'requests',
          unitPrice: null,
          amount: group.charge.other,
        },
      ];
    case 'byok':
      return [
        {
          ...base,
          description: `${group.model} with the tenant's own provider key${late}`,
          quantity: group.requests,
          unit: 'requests',
          unitPrice: plan?.byokFee ?? null,
          amount: group.charge.other,
        },
      ];
    case 'cache_hit':
      return [
        {
          ...base,
          description: `${group.model} answered from the cache${late}`,
          quantity: group.requests,
          unit: 'requests',
          unitPrice: null,
          amount: group.charge.other,
        },
      ];
    default:
      // Usage from before the tenant had a plan: billed at nothing, and so shown nowhere.
      return lines;
  }
}

/** The usage lines of an invoice for `period`, in the order of the groups. */
export function usageLines(
  groups: readonly UsageGroup[],
  plans: readonly PricePlan[],
  period: string,
): InvoiceLine[] {
  const byId = new Map(plans.map((plan) => [plan.id, plan]));
  return groups.flatMap((group) =>
    groupLines(group, group.planId === null ? undefined : byId.get(group.planId), period),
  );
}

/** The base fee and allowance lines of the period's plan version. */
export function feeLines(plan: PricePlan, usage: number): InvoiceLine[] {
  const lines: InvoiceLine[] = [];
  const fixed = { model: null, period: null, quantity: 1, unit: 'each' };
  if (plan.baseFee > 0)
    lines.push({
      ...fixed,
      kind: 'base_fee',
      description: 'Monthly base fee',
      unitPrice: plan.baseFee,
      amount: plan.baseFee,
    });
  const allowance = Math.min(plan.included, Math.max(usage, 0));
  if (allowance > 0)
    lines.push({
      ...fixed,
      kind: 'allowance',
      description: 'Usage included in the base fee',
      unitPrice: -allowance,
      amount: -allowance,
    });
  return lines;
}

/**
 * Whether a credit may pay an invoice of `period`: same currency, something left, and not
 * expired before the period began.
 */
export function creditApplies(credit: Credit, currency: Currency, period: string): boolean {
  const { start } = periodBounds(period);
  return (
    credit.currency === currency &&
    credit.remaining > 0 &&
    (credit.expiresAt === null || credit.expiresAt > start)
  );
}

/** Soonest expiry first, credits that never expire last, then in the order granted. */
export function creditOrder(a: Credit, b: Credit): number {
  const expiry = (credit: Credit) => credit.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
  return (
    expiry(a) - expiry(b) || a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1)
  );
}

export interface Totals {
  subtotal: number;
  tax: number;
  total: number;
  credits: CreditApplied[];
  creditsApplied: number;
  amountDue: number;
}

/**
 * The invoice's totals, by the one rounding rule: lines are exact to the micro-unit; their
 * sum is rounded half-even to the currency's minor unit (the subtotal); tax is the subtotal
 * times the rate, rounded half-even to the minor unit; credits (whole minor units) pay the
 * total in order of expiry.
 */
export function totalsOf(
  lines: readonly InvoiceLine[],
  plan: Pick<PricePlan, 'taxPpm' | 'currency'>,
  credits: readonly Credit[],
  period: string,
): Totals {
  const exact = lines.reduce((sum, line) => sum + line.amount, 0);
  const subtotal = toMinorUnit(exact, plan.currency);
  const step = BigInt(microsPerMinor(plan.currency));
  const tax = Number(
    divideHalfEven(BigInt(subtotal) * BigInt(plan.taxPpm), 1_000_000n * step) * step,
  );
  const total = subtotal + tax;
  const applied: CreditApplied[] = [];
  let left = total;
  for (const credit of [...credits]
    .filter((c) => creditApplies(c, plan.currency, period))
    .sort(creditOrder)) {
    if (left <= 0) break;
    const amount = Math.min(left, credit.remaining);
    applied.push({ creditId: credit.id, reason: credit.reason, amount });
    left -= amount;
  }
  const creditsApplied = applied.reduce((sum, credit) => sum + credit.amount, 0);
  return {
    subtotal,
    tax,
    total,
    credits: applied,
    creditsApplied,
    amountDue: total - creditsApplied,
  };
}
