/** The windows `llm_backend_active_*` report, and their length. */
export const ACTIVE_WINDOWS = { '5m': 5 * 60_000, '1d': 24 * 60 * 60_000 } as const;
export type ActiveWindow = keyof typeof ACTIVE_WINDOWS;

const LONGEST_MS = ACTIVE_WINDOWS['1d'];

/**
 * Distinct callers (keys, or users) per tenant label seen by this process in the last five
 * minutes and the last day. Per instance: behind a load balancer, each instance counts the
 * callers it served, and a caller served by two counts on both (the dashboards take the max
 * over instances, a lower bound). A Redis HyperLogLog would count across instances, but
 * costs a round trip per request; this costs a Map update. Bounded: past `maxEntries`, the
 * callers seen longest ago are forgotten first.
 */
export class ActiveCallers {
  /** `tenant\0id` -> last seen (ms); Map order is recency order (touched entries move last). */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly maxEntries = 100_000,
    private readonly clock: () => number = Date.now,
  ) {}

  touch(tenant: string, id: string): void {
    const key = `${tenant}\0${id}`;
    this.seen.delete(key);
    this.seen.set(key, this.clock());
    if (this.seen.size > this.maxEntries) {
      const [oldest] = this.seen.keys();
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  /** How many distinct callers each tenant had in each window; forgets those older than a day. */
  count(): Map<string, Record<ActiveWindow, number>> {
    const now = this.clock();
    const counts = new Map<string, Record<ActiveWindow, number>>();
    for (const [key, at] of this.seen) {
      if (now - at > LONGEST_MS) {
        this.seen.delete(key);
        continue;
      }
      const tenant = key.slice(0, key.indexOf('\0'));
      let row = counts.get(tenant);
      if (row === undefined) {
        row = { '5m': 0, '1d': 0 };
        counts.set(tenant, row);
      }
      row['1d'] += 1;
      if (now - at <= ACTIVE_WINDOWS['5m']) row['5m'] += 1;
    }
    return counts;
  }
}
