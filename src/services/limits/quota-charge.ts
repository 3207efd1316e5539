import type { PricePlan } from '../../domain/billing.js';
import type { QuotaMetric } from '../../domain/quota.js';
import { chargeOf, chargeTotal } from '../billing/charge.js';

/** What a request counts against each metric's quotas, in its counter's units. */
export type Counts = Record<QuotaMetric, number>;

/** What a request used, as a charge budget prices it (the limiter's `Used`). */
export interface Priced {
  tokens: number;
  cost: number;
  usage?: { promptTokens: number; completionTokens: number; cachedTokens: number };
  byok?: boolean;
}

/** What a request that used this is charged, in micro-units of the plan's currency. */
export type Pricing = (used: Priced) => number;

/**
 * Prices a request of `model` with the plan version given, through the usage worker's own
 * function, so the counter and the record agree; tokens without their split count as prompt.
 */
export function pricingOf(model: string, plan: PricePlan | null): Pricing {
  return (used) => {
    const usage = used.usage ?? { promptTokens: used.tokens, completionTokens: 0, cachedTokens: 0 };
    const record = {
      model,
      cost: used.cost,
      cacheHit: false,
      byok: used.byok ?? false,
      usage: { ...usage, totalTokens: used.tokens, estimated: false },
    };
    return chargeTotal(chargeOf(record, plan));
  };
}
