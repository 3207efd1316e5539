/** Billing periods are UTC calendar months, named `2026-11`. */
const PERIOD = /^(\d{4})-(0[1-9]|1[0-2])$/;

export const isPeriod = (value: string) => PERIOD.test(value);

/** The period's first instant and the next period's first instant (its end, exclusive). */
export function periodBounds(period: string): { start: Date; end: Date } {
  const match = PERIOD.exec(period);
  if (match === null) throw new Error(`not a period: ${period}`);
  const year = Number(match[1]);
  const month = Number(match[2]);
  return {
    start: new Date(Date.UTC(year, month - 1, 1)),
    end: new Date(Date.UTC(year, month, 1)),
  };
}

/** The period `at` falls in. */
export function periodOf(at: Date): string {
  return `${at.getUTCFullYear()}-${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The period after `period`. */
export function nextPeriod(period: string): string {
  return periodOf(periodBounds(period).end);
}
