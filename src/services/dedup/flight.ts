import { type FlightEntry, isFinal } from './entries.js';

/**
 * One answer in flight on this instance, shared by every local request that asked for it:
 * an append-only list of entries that each subscriber reads from the beginning at its own
 * pace, so a late subscriber still gets every chunk. Fed by this instance's own upstream call
 * or by another instance's leader through the exchange.
 */
export class Flight {
  readonly entries: FlightEntry[] = [];
  /** Aborts this instance's upstream call for the flight, once nobody wants the answer. */
  readonly controller = new AbortController();
  /** Requests reading the flight whose clients are still there. */
  private subscribers = 0;
  private waiters: (() => void)[] = [];
  /** What the current phase does once the last subscriber has left. */
  onIdle: (() => void) | null = null;
  /** Whether this instance's own upstream call feeds the flight (it leads, or took over). */
  upstreamLocal = false;

  constructor(
    /** The request whose upstream call answers the flight; another instance's one when followed. */
    public leaderRequestId: string,
  ) {}

  get done(): boolean {
    const last = this.entries.at(-1);
    return last !== undefined && isFinal(last);
  }

  append(entry: FlightEntry): void {
    if (this.done) return;
    this.entries.push(entry);
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Counts a subscriber until its client goes (`signal`) or it has read to the end. */
  join(signal: AbortSignal): () => void {
    this.subscribers++;
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      signal.removeEventListener('abort', leave);
      if (--this.subscribers === 0 && !this.done) this.onIdle?.();
    };
    if (signal.aborted) queueMicrotask(leave);
    else signal.addEventListener('abort', leave, { once: true });
    return leave;
  }

  get empty(): boolean {
    return this.subscribers === 0;
  }

  /** Every entry from the first, waiting for the next ones, until a final one. */
  async *read(): AsyncGenerator<FlightEntry> {
    for (let index = 0; ; index++) {
      while (index >= this.entries.length) await new Promise<void>((r) => this.waiters.push(r));
      const entry = this.entries[index] as FlightEntry;
      yield entry;
      if (isFinal(entry)) return;
    }
  }
}
