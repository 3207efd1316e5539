/**
 * The ledger: the one truth behind rate limits, quotas and budgets, shared by every instance
 * (Redis) or kept in this process (one instance). It counts *holds*, never requests: each
 * instance holds capacity of each counter ahead of its requests (a lease) and admits from it
 * locally, so most requests never wait on the ledger (see admission.ts).
 *
 * A counter is one limit of one subject (a tenant's requests per minute, a key's concurrent
 * requests, a user's daily token quota...). What it counts against its limit:
 * - `window`: the holds taken in the last `windowMs`. A hold taken at T hands out units until
 *   T + leaseMs and counts until T + leaseMs + windowMs, so every unit counts for a whole
 *   window after its use: no span of `windowMs` ever holds more than the limit.
 * - `concurrent`: the live holds: what each instance has in flight, plus a few idle slots it
 *   keeps for its next requests. A hold lives `holdMs` unless renewed, so an instance that
 *   dies frees its slots within seconds.
 * - `quota`: what the period used for good (`used`, grown by settled usage) plus the live
 *   holds (reservations of requests in flight, and idle prefetched units).
 *
 * Holds also say how much of them is idle: taken ahead and not handed out yet (a lease's
 * prefetch, a hold's spare slots). A request refused while others hold idle capacity learns
 * so (`reclaimable`): its instance asks the others to give theirs back and tries again, so a
 * burst larger than a limit ends with exactly the limit admitted.
 *
 * Every hold has an id made by the gateway. Holds of concurrent and quota counters are one per
 * instance (id = the instance's); window holds are one per lease. An instance sets its holds
 * to absolute amounts, so repeating a sync, or a reply lost on the way, never counts twice,
 * and a hold nobody renews goes by itself.
 */

export type CounterKind = 'window' | 'concurrent' | 'quota';

export interface CounterSpec {
  /** The counter's key; every counter of one call shares a hash tag (one Redis Cluster slot). */
  key: string;
  kind: CounterKind;
  limit: number;
  /** `window` only: the span the limit holds over, in ms. */
  windowMs?: number;
  /** `quota` only: when the counter may go (epoch ms; its period's end and a margin). */
  expiresAt?: number;
  /**
   * `quota` only: what the period used before the counter existed (rebuilt from the usage
   * records), for a counter that is missing. Without one the ledger reports it missing.
   */
  seed?: number;
  /** `quota` only: percentages of the limit whose crossing `sync` reports, once each. */
  thresholds?: number[];
}

/** One request of a batch: what it takes of each counter (index into `counters`). */
export interface Demand {
  amounts: { counter: number; amount: number }[];
}

export interface AcquireCall {
  counters: CounterSpec[];
  /** This instance: its holds of concurrent and quota counters are named after it. */
  holder: string;
  /** Instances sharing the ledger, this one included: the prefetch is split between them. */
  instances: number;
  /** `window` counters: how long the new lease hands out units. */
  leaseMs: number;
  /** `concurrent` and `quota` counters: how long a hold lives unless renewed. */
  holdMs: number;
  /** Per counter (same order): what this instance believes it holds (live kinds; else 0). */
  held: number[];
  /** Per counter: how much of `held` is idle, not handed out (live kinds; else 0). */
  idle: number[];
  /** Per window counter that gets a lease (same order; '' for others): the new lease's id. */
  leaseIds: string[];
  /** Leases of this instance set to what they really used, before the demands are judged. */
  leases: LeaseSettlement[];
  /** Taken in order: a request is admitted when all its amounts fit, or refused whole. */
  demands: Demand[];
  /** Whether to take capacity ahead beyond the demands, where there is plenty. */
  prefetch: boolean;
}

export interface CounterGrant {
  /** Units this call added to this instance's hold or new lease (demands and prefetch). */
  granted: number;
  /** What is left for everyone after this call (the limit minus all holds and usage). */
  remaining: number;
  /** ms until the counter is back to its initial state (windows; 0 for the others). */
  resetMs: number;
}

export type DemandOutcome =
  | { admitted: true }
  | {
      admitted: false;
      /** The first counter the request did not fit. */
      counter: number;
      /** When enough of it frees for the request to fit (for concurrency, a guess). */
      retryAfterMs: number;
      /** A quota refused a request for the first time in its period. */
      firstRefusal: boolean;
      /** Other holds have idle capacity of this counter: given back, the request may fit. */
      reclaimable: boolean;
    };

export type AcquireResult =
  | { missing: number[] }
  | { missing?: undefined; outcomes: DemandOutcome[]; counters: CounterGrant[] };

/** A lease of a window counter, set to what was really used of it. */
export interface LeaseSettlement {
  counter: number;
  leaseId: string;
  /** Units used (corrections included); 0 returns the whole lease. */
  amount: number;
  /**
   * How long the lease's last unit was in use before this call, so it counts until then
   * plus the window and no longer. Also makes a lease the ledger never saw (served while it
   * was away, or its reply lost): counted from then on.
   */
  lastUseAgoMs: number;
}

export interface SyncCall {
  counters: CounterSpec[];
  holder: string;
  holdMs: number;
  /** Live holds set to absolute amounts (`idle` of them not handed out) and renewed; 0 drops. */
  holds: { counter: number; amount: number; idle: number }[];
  leases: LeaseSettlement[];
  /** Quota usage settled for good: added to `used` once per batch id. */
  used: { counter: number; amount: number }[];
  /** Makes `used` idempotent: a batch seen before adds nothing. */
  batchId: string;
}

/** A quota whose settled usage passed one of its thresholds for the first time. */
export interface Crossing {
  counter: number;
  threshold: number;
  used: number;
}

export interface Ledger {
  acquire(call: AcquireCall): Promise<AcquireResult>;
  sync(call: SyncCall): Promise<Crossing[]>;
  close(): Promise<void>;
}

/** How long a batch id is remembered: longer than any retry of the same sync. */
export const BATCH_MEMORY_MS = 10 * 60_000;

/**
 * Rejects what Redis could not count (HINCRBY takes whole numbers), so the in-process ledger
 * fails the same way the Redis one would instead of drifting apart from it.
 */
export function assertWhole(what: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min)
    throw new RangeError(`${what} must be a whole number >= ${min}, got ${value}`);
}

function assertCounters(counters: CounterSpec[]): void {
  for (const counter of counters) {
    assertWhole(`limit of ${counter.key}`, counter.limit, 0);
    if (counter.kind === 'window') assertWhole('windowMs', counter.windowMs ?? -1, 1);
    if (counter.seed !== undefined) assertWhole(`seed of ${counter.key}`, counter.seed, 0);
    if (counter.expiresAt !== undefined) assertWhole('expiresAt', counter.expiresAt, 1);
    for (const threshold of counter.thresholds ?? []) assertWhole('threshold', threshold, 1);
  }
}

const inRange = (index: number, counters: CounterSpec[]) => {
  if (!Number.isInteger(index) || index < 0 || index >= counters.length)
    throw new RangeError(`counter index ${index} out of range`);
};

export function assertAcquire(call: AcquireCall): void {
  assertCounters(call.counters);
  assertWhole('leaseMs', call.leaseMs, 1);
  assertWhole('holdMs', call.holdMs, 1);
  assertWhole('instances', call.instances, 1);
  const { length } = call.counters;
  if (call.held.length !== length || call.idle.length !== length || call.leaseIds.length !== length)
    throw new RangeError('held, idle and leaseIds must have one entry per counter');
  for (const held of call.held) assertWhole('held', held, 0);
  for (const idle of call.idle) assertWhole('idle', idle, 0);
  assertLeases(call.leases, call.counters);
  for (const demand of call.demands)
    for (const { counter, amount } of demand.amounts) {
      inRange(counter, call.counters);
      assertWhole('amount', amount, 0);
    }
}

export function assertSync(call: SyncCall): void {
  assertCounters(call.counters);
  assertWhole('holdMs', call.holdMs, 1);
  for (const { counter, amount } of [...call.holds, ...call.used]) {
    inRange(counter, call.counters);
    assertWhole('amount', amount, 0);
  }
  for (const hold of call.holds) assertWhole('idle', hold.idle, 0);
  assertLeases(call.leases, call.counters);
}

function assertLeases(leases: LeaseSettlement[], counters: CounterSpec[]): void {
  for (const lease of leases) {
    inRange(lease.counter, counters);
    assertWhole('amount', lease.amount, 0);
    assertWhole('lastUseAgoMs', lease.lastUseAgoMs, 0);
    if (counters[lease.counter]?.kind !== 'window') throw new RangeError('leases are of windows');
  }
}

/** The prefetch leaves at least this many shares of what is left to everyone. */
export const PREFETCH_SPLIT = 4;
/** Below this many of the call's largest amounts a lease saves nothing: none is taken. */
export const MIN_PREFETCH_UNITS = 2;
/** No single lease takes more than this fraction of a limit (unless one unit is more). */
export const MAX_PREFETCH_FRACTION = 16;

/**
 * How much to take ahead beyond a call's demands: a share of what is left, split between the
 * instances so each can take its turn; nothing once what is left is small, so the last of a
 * limit is decided request by request, where every instance sees every other's use. `unit`
 * is the largest amount one request of the call took (1 for requests, its tokens for tokens).
 */
export function prefetchOf(free: number, instances: number, limit: number, unit: number): number {
  const share = Math.floor(free / (PREFETCH_SPLIT * instances));
  const least = MIN_PREFETCH_UNITS * unit;
  if (share < least) return 0;
  const extra = Math.min(share, Math.max(least, Math.floor(limit / MAX_PREFETCH_FRACTION)));
  // Whole units: a remainder smaller than a request would sit idle where none could use it.
  return unit > 0 ? extra - (extra % unit) : extra;
}
