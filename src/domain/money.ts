/**
 * Money is kept exact: integer micro-units (a millionth of the currency's major unit) in
 * every column, computation and JSON field, written as decimal strings on the API so no
 * client parses an amount into a float. The one rounding rule, half-even, is applied where
 * an amount must fit a coarser unit: a record's charge to the micro-unit, an invoice's total
 * and tax to the currency's minor unit.
 */
export const MICROS_PER_UNIT = 1_000_000;

/** The currencies a plan may bill in, with the digits of their minor unit (ISO 4217). */
export const CURRENCIES = {
  USD: 2,
  EUR: 2,
  GBP: 2,
  CHF: 2,
  CAD: 2,
  AUD: 2,
  SEK: 2,
  NOK: 2,
  DKK: 2,
  PLN: 2,
  INR: 2,
  BRL: 2,
  CNY: 2,
  JPY: 0,
  KRW: 0,
} as const;

export type Currency = keyof typeof CURRENCIES;
export const CURRENCY_CODES = Object.keys(CURRENCIES) as Currency[];

export const isCurrency = (value: unknown): value is Currency =>
  typeof value === 'string' && Object.hasOwn(CURRENCIES, value);

/** Micro-units in one minor unit of the currency: 10,000 for cents. */
export const microsPerMinor = (currency: Currency): number => 10 ** (6 - CURRENCIES[currency]);

/** The largest amount billing takes anywhere: a billion units, exact as a double of micros. */
export const MAX_MICROS = 1e15;

/** `numerator / denominator`, rounded half to even; both integers (bigint, so nothing is lost). */
export function divideHalfEven(numerator: bigint, denominator: bigint): bigint {
  const negative = numerator < 0n !== denominator < 0n;
  const n = numerator < 0n ? -numerator : numerator;
  const d = denominator < 0n ? -denominator : denominator;
  let quotient = n / d;
  const twice = (n % d) * 2n;
  if (twice > d || (twice === d && quotient % 2n === 1n)) quotient += 1n;
  return negative ? -quotient : quotient;
}

/** An amount of micro-units rounded half-even to the currency's minor unit. */
export function toMinorUnit(micros: number, currency: Currency): number {
  const step = BigInt(microsPerMinor(currency));
  return Number(divideHalfEven(BigInt(micros), step) * step);
}

const DECIMAL = /^(-)?(\d{1,9})(?:\.(\d{1,6}))?$/;

/**
 * A decimal string (`"12.5"`, up to 9 whole digits and 6 decimals) as micro-units, exact
 * as a double; null when it is not one.
 */
export function parseMicros(text: string): number | null {
  const match = DECIMAL.exec(text);
  if (match === null) return null;
  const [, sign, whole, fraction = ''] = match;
  const micros = Number(whole) * MICROS_PER_UNIT + Number(fraction.padEnd(6, '0'));
  return sign === '-' ? -micros : micros;
}

/** Micro-units as a decimal string with all six decimals: `12500000` is `"12.500000"`. */
export function formatMicros(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / MICROS_PER_UNIT);
  const fraction = String(abs % MICROS_PER_UNIT).padStart(6, '0');
  return `${sign}${whole}.${fraction}`;
}

/** Micro-units as the currency writes them: `"12.50"` for USD, `"1250"` for JPY. */
export function formatMinor(micros: number, currency: Currency): string {
  const digits = CURRENCIES[currency];
  const full = formatMicros(toMinorUnit(micros, currency));
  return digits === 0 ? full.slice(0, full.indexOf('.')) : full.slice(0, full.length - 6 + digits);
}
