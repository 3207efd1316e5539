import type { QuotaPeriod } from '../../storage/tenant-schema.js';

export interface PeriodWindow {
  /** Part of the counter's key: `d20261126`, `m202611` or `total`. */
  label: string;
  /** The first instant counted; null: since the beginning. */
  start: Date | null;
  /** The first instant not counted; null: never ends. */
  end: Date | null;
}

const pad = (value: number) => String(value).padStart(2, '0');

/** The UTC day or month `at` falls in, or all time. */
export function periodAt(period: QuotaPeriod, at: Date): PeriodWindow {
  const year = at.getUTCFullYear();
  const month = at.getUTCMonth();
  if (period === 'day') {
    const day = at.getUTCDate();
    return {
      label: `d${year}${pad(month + 1)}${pad(day)}`,
      start: new Date(Date.UTC(year, month, day)),
      end: new Date(Date.UTC(year, month, day + 1)),
    };
  }
  if (period === 'month') {
    return {
      label: `m${year}${pad(month + 1)}`,
      start: new Date(Date.UTC(year, month, 1)),
      end: new Date(Date.UTC(year, month + 1, 1)),
    };
  }
  return { label: 'total', start: null, end: null };
}

/** Spend is counted in billionths of the price table's currency: whole numbers, as Redis counts. */
export const NANOS_PER_UNIT = 1e9;

export const toNanos = (cost: number): number => Math.round(cost * NANOS_PER_UNIT);
