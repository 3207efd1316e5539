import type { ModelPricing } from '../../config/load.js';
import type { Usage } from '../inference/usage.js';

/**
 * What a request cost in the price table's currency (US dollars), from its usage: cached
 * prompt tokens at the cached price, the rest of the prompt at the input price, the
 * completion at the output price. Prices are per million tokens.
 */
export function costOf(usage: Usage, pricing: ModelPricing): number {
  const cached = Math.min(usage.cachedTokens, usage.promptTokens);
  const perMillion =
    (usage.promptTokens - cached) * pricing.input +
    cached * pricing.cachedInput +
    usage.completionTokens * pricing.output;
  // Rounded to the 10 decimals stored, so sums in the database and here agree.
  return Math.round(perMillion * 1e4) / 1e10;
}

/** The prices a Batch API line is charged at: the batch prices, half the normal by default. */
export function batchPricing(pricing: ModelPricing): ModelPricing {
  return (
    pricing.batch ?? {
      input: pricing.input / 2,
      output: pricing.output / 2,
      cachedInput: pricing.cachedInput / 2,
    }
  );
}
