/**
 * The counters behind rate limits and quotas: Redis for many instances, memory for one. Both
 * keep the same sliding window so that a limit means the same thing everywhere: at most
 * `limit` requests (or tokens) in any 60 seconds. Usage is counted in one-second buckets and a check
 * sums the last 61 of them, so every 60-second span, however placed, stays within the limit
 * (a span can touch 61 buckets); there is no edge between windows to burst across.
 */

export type LimitKind = 'requests' | 'tokens' | 'concurrent' | 'quota';

export const WINDOW_MS = 60_000;
export const BUCKET_MS = 1_000;
/** Buckets a check sums: the window's 60 and the one it starts inside. */
export const BUCKETS_PER_CHECK = WINDOW_MS / BUCKET_MS + 1;

export interface LimitCheck {
  /** The counter's key, unique per subject, model and kind; all keys of one call share a hash tag. */
  key: string;
  kind: LimitKind;
  /** Per window for requests and tokens; at once for concurrent. */
  limit: number;
  /** What this request takes: 1 request, its reserved tokens, or 1 concurrent slot. */
  amount: number;
  /**
   * Quotas only. A quota counts one period, not a window: its counter holds what was used
   * so far. When the counter is missing (a new period, a new quota, or Redis lost it) it
   * starts at `seed`, rebuilt from the usage records; without a seed the store reports the
   * check unseeded and takes nothing.
   */
  seed?: number;
  /** Quotas only: when the counter may go (epoch ms; the period's end and a margin). */
  expiresAt?: number;
  /** Quotas only: percentages of the limit whose crossing settle() reports, once each. */
  thresholds?: number[];
}

export interface LimitState {
  key: string;
  kind: LimitKind;
  limit: number;
  /** What is left after this request (or now, when refused); never below 0. */
  remaining: number;
  /**
   * Milliseconds until the counter is back to its initial state: the newest usage leaves the
   * window (0 when nothing is counted). For concurrent limits, 0.
   */
  resetMs: number;
}

export type Acquired =
  | {
      ok: true;
      /** The bucket (epoch second) the amounts went into: settle() adjusts that one. */
      bucket: number;
      states: LimitState[];
    }
  | {
      ok: false;
      /** The first check that did not fit. */
      refused: LimitCheck;
      /** When enough of the refusing counter has left the window for this amount to fit. */
      retryAfterMs: number;
      states: LimitState[];
      /** A quota refused a request for the first time in its period. */
      firstRefusal: boolean;
    }
  | {
      ok: false;
      refused: null;
      /** Quota checks whose counters are missing and came without a seed: nothing was taken. */
      unseeded: LimitCheck[];
      states: LimitState[];
    };

/** A quota counter that passed one of its thresholds. */
export interface Crossing {
  key: string;
  threshold: number;
  /** The counter after the settlement that crossed it. */
  used: number;
}

export interface Settlement {
  /** Token corrections: actual minus reserved, in the bucket the reservation went into. */
  adjustments: { key: string; delta: number }[];
  /** Concurrent counters whose slot this request held. */
  leases: string[];
  /**
   * Quota corrections: actual minus reserved. A counter that has gone meanwhile (Redis lost
   * it) is left alone: it is rebuilt from the usage records, which hold the actual usage.
   */
  quotas?: QuotaAdjustment[];
}

export interface QuotaAdjustment {
  key: string;
  delta: number;
  limit: number;
  thresholds: number[];
}

export interface RateLimitStore {
  /**
   * Checks every counter and, only if all fit, takes every amount: one atomic step (one
   * Redis round trip), so concurrent requests and instances can never overshoot together.
   * Concurrent slots are leased to `leaseId` for `leaseMs`, so a crashed instance's slots
   * free themselves.
   */
  acquire(checks: LimitCheck[], leaseId: string, leaseMs: number): Promise<Acquired>;
  /**
   * Corrects token and quota reservations and frees concurrent slots. Idempotent for the
   * leases. Returns the quota thresholds passed for the first time in their period.
   */
  settle(bucket: number, settlement: Settlement, leaseId: string): Promise<Crossing[]>;
  close(): Promise<void>;
}

/**
 * Rejects what Redis could not count (HINCRBY takes whole numbers), so the embedded store
 * fails the same way the Redis one would instead of drifting apart from it.
 */
export function assertWhole(what: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min)
    throw new RangeError(`${what} must be a whole number >= ${min}, got ${value}`);
}

export function assertCheck(check: LimitCheck): void {
  assertWhole(`limit of ${check.key}`, check.limit, 0);
  assertWhole(`amount of ${check.key}`, check.amount, 0);
  if (check.seed !== undefined) assertWhole(`seed of ${check.key}`, check.seed, 0);
  if (check.expiresAt !== undefined) assertWhole(`expiresAt of ${check.key}`, check.expiresAt, 1);
  for (const threshold of check.thresholds ?? []) assertWhole('threshold', threshold, 1);
}

export function assertSettlement(bucket: number, settlement: Settlement): void {
  assertWhole('bucket', bucket, 0);
  for (const { key, delta } of [...settlement.adjustments, ...(settlement.quotas ?? [])])
    assertWhole(`delta of ${key}`, delta, Number.MIN_SAFE_INTEGER);
  for (const quota of settlement.quotas ?? []) {
    assertWhole(`limit of ${quota.key}`, quota.limit, 0);
    for (const threshold of quota.thresholds) assertWhole('threshold', threshold, 1);
  }
}
