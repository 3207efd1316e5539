import type { PricePlan } from '../../domain/billing.js';
import { divideHalfEven, MICROS_PER_UNIT } from '../../domain/money.js';
import type { UsageRecord } from '../../domain/usage-record.js';

export type ChargeBasis = 'rate_card' | 'cost_plus' | 'byok' | 'cache_hit' | 'none';

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
const perToken = (tokens: number, pricePerMillion: number) =>
  Number(divideHalfEven(BigInt(tokens) * BigInt(pricePerMillion), MILLION));

/**
 * A record's charge under the plan version effective at its time: each part rounded
 * half-even to the micro-unit, once, here; invoices only add these parts up.
 */
export function chargeOf(record: UsageRecord, plan: PricePlan | null): Charge {
  if (plan === null) return NO_CHARGE;
  const base = { ...NO_CHARGE, planId: plan.id };
  if (record.cacheHit) return { ...base, basis: 'cache_hit', other: costPlus(record.cost, plan) };
  if (record.byok) return { ...base, basis: 'byok', other: plan.byokFee };
  const rate = plan.rates[record.model];
  if (rate === undefined)
    return { ...base, basis: 'cost_plus', other: costPlus(record.cost, plan) };
  const cachedTokens = Math.min(record.usage.cachedTokens, record.usage.promptTokens);
  return {
    ...base,
    basis: 'rate_card',
    input: perToken(record.usage.promptTokens - cachedTokens, rate.input),
    cached: perToken(cachedTokens, rate.cachedInput),
    output: perToken(record.usage.completionTokens, rate.output),
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
