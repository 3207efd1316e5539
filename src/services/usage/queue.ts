import type { UsageEvent } from './usage-records.js';

/** One event handed to a worker; it stays pending until acknowledged or set aside. */
export interface Delivery {
  /** The queue's id for the entry (a stream entry id), not the event's. */
  id: string;
  /** The text as queued. */
  raw: string;
  /** Null when the entry is not a usage event at all. */
  event: UsageEvent | null;
  /** How many times it has been handed out, this time included. */
  attempts: number;
}

export interface DeadLetter {
  id: string;
  raw: string;
  reason: string;
  attempts: number;
  at: Date;
}

/**
 * Usage events between the gateway that served a request and the worker that writes it to
 * the tenant's database: a Redis Stream read by a consumer group when instances share
 * Redis, an in-process queue for the embedded default. Both hand an entry out until it is
 * acknowledged; one a consumer took and never acknowledged (it died, the write failed)
 * goes to the next reader once it has been idle for the claim time.
 */
export interface UsageQueue {
  /** Resolves once every event is held by the queue (in Redis: acknowledged by XADD). */
  publish(events: UsageEvent[]): Promise<void>;
  /**
   * Up to `count` entries for `consumer`: first those left idle by any consumer, then new
   * ones, waiting up to `blockMs` for some to arrive.
   */
  read(consumer: string, count: number, blockMs: number): Promise<Delivery[]>;
  /** Done with: never handed out again. */
  ack(ids: string[]): Promise<void>;
  /** Moves an entry that cannot be written to the dead letters, for an operator to see. */
  deadLetter(delivery: Delivery, reason: string): Promise<void>;
  /** The newest dead letters, newest first. */
  deadLetters(limit: number): Promise<DeadLetter[]>;
  /** Entries published and not yet acknowledged. */
  backlog(): Promise<number>;
  /** Entries handed to a worker and not yet acknowledged (a part of the backlog). */
  pending(): Promise<number>;
  /** How many dead letters are kept. */
  deadLetterCount(): Promise<number>;
  /**
   * When the oldest entry not yet acknowledged was queued; null when none is. An invoice's
   * period is closed only once nothing queued before its end is left.
   */
  oldest(): Promise<Date | null>;
  /** Why queued events might not survive a restart of the queue's server; null if they do. */
  durabilityWarning(): Promise<string | null>;
  close(): Promise<void>;
}

/** The time in a stream entry id (`<ms>-<seq>`), as both queues make them; null for none. */
export function timeOfEntry(id: string | undefined): Date | null {
  if (id === undefined) return null;
  const ms = Number(id.slice(0, id.indexOf('-')));
  return Number.isFinite(ms) ? new Date(ms) : null;
}
