import type { PricePlan } from '../../domain/billing.js';
import { divideHalfEven, MICROS_PER_UNIT } from '../../domain/money.js';
import type { UsageRecord } from '../../domain/usage-record.js';

/** `batch`: a Batch API line on the rate card, at half its per-token prices. */
export type ChargeBasis = 'rate_card' | 'batch' | 'cost_plus' | 'byok' | 'cache_hit' | 'none';

/** What a usage record is charged, in micro-units of the plan's currency, part by part. */
export interface Charge {
  planId: string | null;
  basis: ChargeBasis;
  input: number;
  cached: number;
  output: number;
  /** Everything not per token: cost plus markup, a cache hit, a BYOK request's fee. */
  other: number;
}

export const NO_CHARGE: Charge = {
  planId: null,
  basis: 'none',
  input: 0,
  cached: 0,
  output: 0,
  other: 0,
};

export const chargeTotal = (charge: Charge) =>
  charge.input + charge.cached + charge.output + charge.other;

/** The price table's costs keep 10 decimals (`numeric(20, 10)`): whole 1e-10 dollars. */
const COST_SCALE = 10_000_000_000n;
const MILLION = BigInt(MICROS_PER_UNIT);

/** A provider cost in dollars plus the markup, in micro-units of the plan's currency. */
function costPlus(cost: number, plan: PricePlan): number {
  const units = BigInt(Math.round(cost * Number(COST_SCALE)));
  const numerator = units * (MILLION + BigInt(plan.markupPpm)) * BigInt(plan.usdRate);
  // cost units / 1e10 dollars, markup / 1e6, rate in micros per dollar: micros = n / (1e10 * 1e6).
  return Number(divideHalfEven(numerator, COST_SCALE * MILLION));
}

/** Tokens at a price per million tokens, rounded half-even to the micro-unit. */
const perToken = (tokens: number, pricePerMillion: number, divisor = 1n) =>
  Number(divideHalfEven(BigInt(tokens) * BigInt(pricePerMillion), MILLION * divisor));

/**
 * A record's charge under the plan version effective at its time: each part rounded
 * half-even to the micro-unit, once, here; invoices only add these parts up. Charge budgets
 * price a request here too, before and after its call.
 */
export function chargeOf(
  record: Pick<UsageRecord, 'model' | 'usage' | 'cost' | 'cacheHit' | 'byok' | 'batch'>,
  plan: PricePlan | null,
): Charge {
  if (plan === null) return NO_CHARGE;
  const base = { ...NO_CHARGE, planId: plan.id };
  if (record.cacheHit) return { ...base, basis: 'cache_hit', other: costPlus(record.cost, plan) };
  if (record.byok) return { ...base, basis: 'byok', other: plan.byokFee };
  const rate = plan.rates[record.model];
  if (rate === undefined)
    return { ...base, basis: 'cost_plus', other: costPlus(record.cost, plan) };
  const cachedTokens = Math.min(record.usage.cachedTokens, record.usage.promptTokens);
  // Batch lines pay half the rate card, as the Batch API's prices are half the normal ones.
  const divisor = record.batch ? 2n : 1n;
  return {
    ...base,
    basis: record.batch ? 'batch' : 'rate_card',
    input: perToken(record.usage.promptTokens - cachedTokens, rate.input, divisor),
    cached: perToken(cachedTokens, rate.cachedInput, divisor),
    output: perToken(record.usage.completionTokens, rate.output, divisor),
  };
}

/** The version in effect at `at`: the latest that took effect at or before it. */
export function planAt(plans: readonly PricePlan[], at: Date): PricePlan | null {
  let found: PricePlan | null = null;
  for (const plan of plans)
    if (plan.effectiveAt <= at && (found === null || plan.effectiveAt > found.effectiveAt))
      found = plan;
  return found;
}
