import type { FlightEntry } from './entries.js';

/** The outcome of a claim: this candidate leads, or another one already does. */
export type Claim = { leader: true } | { leader: false; holder: string };

/** A leadership won: its entries go out to the followers; its lease lives while it runs. */
export interface Leadership {
  publish(entry: FlightEntry): void;
  /** Whether anyone, on any instance, follows it (a failure to tell counts as yes). */
  followed(): Promise<boolean>;
  /** After the final entry: stops the lease and lets the entries expire shortly after. */
  end(): void;
}

export interface FollowHandlers {
  entry(entry: FlightEntry): void;
  /**
   * The leader's lease is gone without a final entry (its instance died), or another leader
   * holds it now (`holder`); the reading has stopped.
   */
  leaderGone(holder: string | null): void;
  /** The exchange failed (Redis unreachable); the reading has stopped. */
  failed(error: unknown): void;
}

/**
 * Where the instances meet to share answers in flight: leader election with leases, and each
 * leadership's entries, readable from the first by followers on any instance. Keys are the
 * tenant-scoped request keys. Only the Redis implementation exists: without Redis there is one
 * instance, and the in-process flights are the whole story.
 */
export interface FlightExchange {
  /** Claims `key` for `candidate` with a fresh lease, or names who holds it. Rejects on failure. */
  claim(tenantId: string, key: string, candidate: string): Promise<Claim>;
  lead(tenantId: string, key: string, leaderId: string): Leadership;
  /** Reads `leaderId`'s entries from the first; stop() ends the reading. */
  follow(
    tenantId: string,
    key: string,
    leaderId: string,
    handlers: FollowHandlers,
  ): { stop(): void };
  close(): Promise<void>;
}
