/**
 * The counters behind rate limits: Redis for many instances, memory for one. Both keep the
 * same sliding window so that a limit means the same thing everywhere: at most `limit`
 * requests (or tokens) in any 60 seconds. Usage is counted in one-second buckets and a check
 * sums the last 61 of them, so every 60-second span, however placed, stays within the limit
 * (a span can touch 61 buckets); there is no edge between windows to burst across.
 */

export type LimitKind = 'requests' | 'tokens' | 'concurrent';

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
    };

export interface Settlement {
  /** Token corrections: actual minus reserved, in the bucket the reservation went into. */
  adjustments: { key: string; delta: number }[];
  /** Concurrent counters whose slot this request held. */
  leases: string[];
}

export interface RateLimitStore {
  /**
   * Checks every counter and, only if all fit, takes every amount: one atomic step (one
   * Redis round trip), so concurrent requests and instances can never overshoot together.
   * Concurrent slots are leased to `leaseId` for `leaseMs`, so a crashed instance's slots
   * free themselves.
   */
  acquire(checks: LimitCheck[], leaseId: string, leaseMs: number): Promise<Acquired>;
  /** Corrects token reservations and frees concurrent slots. Idempotent for the leases. */
  settle(bucket: number, settlement: Settlement, leaseId: string): Promise<void>;
  close(): Promise<void>;
}
