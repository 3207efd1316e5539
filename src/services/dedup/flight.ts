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
  /** Requests reading the flight whose clients are still there, in the order they came. */
  private readonly members = new Set<Member>();
  /** The subscriber accounted with this instance's upstream call; null while none is made. */
  payer: Member | null = null;
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

  /**
   * Counts a subscriber until its client goes (`signal`) or it has read to the end. The
   * first one still there when this instance calls the upstream pays for the call.
   */
  join(signal: AbortSignal): Member {
    const member: Member = { taken: false, leave: () => {} };
    this.members.add(member);
    let left = false;
    member.leave = () => {
      if (left) return;
      left = true;
      signal.removeEventListener('abort', member.leave);
      this.members.delete(member);
      // A payer gone before it took the answer has no usage record: the next one pays.
      if (this.payer === member && !member.taken) this.choosePayer();
      if (this.members.size === 0 && !this.done) this.onIdle?.();
    };
    if (signal.aborted) queueMicrotask(member.leave);
    else signal.addEventListener('abort', member.leave, { once: true });
    return member;
  }

  /** This instance calls the upstream for the flight: its earliest subscriber still here pays. */
  choosePayer(): void {
    this.payer = this.members.values().next().value ?? null;
  }

  get empty(): boolean {
    return this.members.size === 0;
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

/** One subscriber of a flight. */
export interface Member {
  /** It has the answer's start (a stream's head, a whole result): its usage record will exist. */
  taken: boolean;
  leave(): void;
}
