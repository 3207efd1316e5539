import type { ModelRate } from '../../domain/billing.js';
import {
  CURRENCY_CODES,
  type Currency,
  isCurrency,
  MAX_MICROS,
  MICROS_PER_UNIT,
  microsPerMinor,
  parseMicros,
} from '../../domain/money.js';
import { GatewayError } from '../../errors/gateway-error.js';

/** A plan version as the admin API takes it: amounts and percentages as decimal strings. */
export interface PlanInput {
  currency: string;
  effective_at?: string;
  markup_percent?: string;
  usd_rate?: string;
  rates?: Record<string, { input?: string; cached_input?: string; output?: string }>;
  base_fee?: string;
  included?: string;
  byok_fee?: string;
  tax_percent?: string;
}

export interface CreditInput {
  amount: string;
  currency: string;
  reason: string;
  expires_at?: string | null;
}

export const MAX_MARKUP_PERCENT = 1000;
export const MAX_TAX_PERCENT = 100;
export const MAX_RATED_MODELS = 1000;
/** A million dollars per million tokens: anything above is a typo. */
export const MAX_PRICE_PER_MILLION = 1_000_000 * MICROS_PER_UNIT;

export const invalid = (message: string, param: string) =>
  new GatewayError('invalid_request', { message, param });

/** A non-negative decimal string (at most 6 decimals) within `max` micro-units. */
export function amountOf(value: unknown, param: string, max = MAX_MICROS): number {
  const micros = typeof value === 'string' ? parseMicros(value) : null;
  if (micros === null)
    throw invalid(`${param} must be a decimal string such as "12.50" (at most 6 decimals).`, param);
  if (micros < 0) throw invalid(`${param} must not be negative.`, param);
  if (micros > max) throw invalid(`${param} must be at most ${max / MICROS_PER_UNIT}.`, param);
  return micros;
}

/** A percentage string (at most 4 decimals) as parts per million. */
function percentOf(value: unknown, param: string, max: number): number {
  const micros = amountOf(value, param, max * MICROS_PER_UNIT);
  if (micros % 100 !== 0) throw invalid(`${param} takes at most 4 decimals.`, param);
  return micros / 100;
}

export function currencyOf(value: unknown, param = 'currency'): Currency {
  if (!isCurrency(value))
    throw invalid(`${param} must be one of ${CURRENCY_CODES.join(', ')}.`, param);
  return value;
}

/** A time given as an ISO 8601 string with its zone. */
export function timeOf(value: unknown, param: string): Date {
  const at =
    typeof value === 'string' && /[zZ]|[+-]\d\d:\d\d$/.test(value) ? new Date(value) : null;
  if (at === null || Number.isNaN(at.getTime()))
    throw invalid(
      `${param} must be an ISO 8601 time with its zone, such as 2026-12-01T00:00:00Z.`,
      param,
    );
  return at;
}

function ratesOf(raw: PlanInput['rates']): Record<string, ModelRate> {
  const entries = Object.entries(raw ?? {});
  if (entries.length > MAX_RATED_MODELS)
    throw invalid(`rates takes at most ${MAX_RATED_MODELS} models.`, 'rates');
  const rates: Record<string, ModelRate> = {};
  for (const [model, rate] of entries) {
    if (model.length === 0 || model.length > 200)
      throw invalid('rates are keyed by model names of 1 to 200 characters.', 'rates');
    if (rate === null || typeof rate !== 'object')
      throw invalid(`rates.${model} must be an object of prices.`, `rates.${model}`);
    const price = (kind: 'input' | 'cached_input' | 'output') =>
      amountOf(rate[kind] ?? '0', `rates.${model}.${kind}`, MAX_PRICE_PER_MILLION);
    rates[model] = {
      input: price('input'),
      cachedInput: price('cached_input'),
      output: price('output'),
    };
  }
  return rates;
}

/** The plan's fields, checked; the effective time is the caller's to check. */
export function planValuesOf(input: PlanInput) {
  const currency = currencyOf(input.currency);
  if (currency !== 'USD' && input.usd_rate === undefined)
    throw invalid(
      'Provider costs are in US dollars: a plan in another currency needs usd_rate (its units per dollar).',
      'usd_rate',
    );
  const usdRate = amountOf(input.usd_rate ?? '1', 'usd_rate', 1_000_000 * MICROS_PER_UNIT);
  if (usdRate === 0) throw invalid('usd_rate must be greater than 0.', 'usd_rate');
  const minor = (value: string | undefined, param: string) => {
    const micros = amountOf(value ?? '0', param);
    if (micros % microsPerMinor(currency) !== 0)
      throw invalid(`${param} must be in whole minor units of ${currency}.`, param);
    return micros;
  };
  return {
    currency,
    usdRate,
    markupPpm: percentOf(input.markup_percent ?? '0', 'markup_percent', MAX_MARKUP_PERCENT),
    rates: ratesOf(input.rates),
    baseFee: minor(input.base_fee, 'base_fee'),
    included: amountOf(input.included ?? '0', 'included'),
    byokFee: amountOf(input.byok_fee ?? '0', 'byok_fee'),
    taxPpm: percentOf(input.tax_percent ?? '0', 'tax_percent', MAX_TAX_PERCENT),
  };
}

/** A credit's amount: greater than 0, in whole minor units of its currency. */
export function creditAmountOf(value: unknown, currency: Currency, param = 'amount'): number {
  const micros = amountOf(value, param);
  if (micros === 0) throw invalid(`${param} must be greater than 0.`, param);
  if (micros % microsPerMinor(currency) !== 0)
    throw invalid(`${param} must be in whole minor units of ${currency}.`, param);
  return micros;
}

export function reasonOf(value: unknown, param = 'reason'): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > 500)
    throw invalid(`${param} must be a text of 1 to 500 characters.`, param);
  return value.trim();
}
