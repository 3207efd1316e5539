import type { UsageEvent } from './usage-records.js';
import { decodeUsageEvent, encodeUsageEvent } from './usage-wire.js';

/**
 * What a running stream has used so far, kept where a crash of its gateway cannot take it:
 * one record per stream, keyed by the event id its final usage event will carry, overwritten
 * as the stream goes on and removed once that final event is queued. A record left behind
 * (its gateway died) is taken by a sweeper and queued as the usage event itself; the same
 * event id lets the tenant database's idempotent insert count it once, whoever queued it.
 */
export interface ProvisionalUsage {
  /** Writes (or overwrites) the stream's record, stamped with the time `at` (ms). */
  record(event: UsageEvent, at: number): Promise<void>;
  /** The stream's final event is queued: its record is no longer needed. */
  settle(eventId: string): Promise<void>;
  /**
   * Up to `count` records last written before `before` (ms), each leased until `leaseUntil`
   * so no other sweeper takes it meanwhile; a sweeper that dies before `settle` leaves it to
   * the next one once the lease is over.
   */
  claimOrphans(before: number, leaseUntil: number, count: number): Promise<UsageEvent[]>;
  /** Records held, orphaned or not. */
  size(): Promise<number>;
  close(): Promise<void>;
}

/**
 * The embedded default: one process, whose crash takes its in-process queue too, so the
 * records only matter for the same rules in tests and single-instance use.
 */
export class MemoryProvisionalUsage implements ProvisionalUsage {
  private readonly records = new Map<string, { raw: string; at: number }>();

  async record(event: UsageEvent, at: number): Promise<void> {
    this.records.set(event.id, { raw: encodeUsageEvent(event), at });
  }

  async settle(eventId: string): Promise<void> {
    this.records.delete(eventId);
  }

  async claimOrphans(before: number, leaseUntil: number, count: number): Promise<UsageEvent[]> {
    const taken: UsageEvent[] = [];
    for (const [id, record] of this.records) {
      if (taken.length >= count) break;
      if (record.at >= before) continue;
      const event = decodeUsageEvent(record.raw);
      if (event === null) {
        this.records.delete(id);
        continue;
      }
      record.at = leaseUntil;
      taken.push(event);
    }
    return taken;
  }

  async size(): Promise<number> {
    return this.records.size;
  }

  async close(): Promise<void> {}
}
