import type { DeadLetter, Delivery, UsageQueue } from './queue.js';
import type { UsageEvent } from './usage-records.js';
import { decodeUsageEvent, encodeUsageEvent } from './usage-wire.js';

interface Entry {
  id: string;
  raw: string;
  attempts: number;
  /** The consumer holding it; null while nobody has taken it. */
  owner: string | null;
  deliveredAt: number;
}

export interface MemoryUsageQueueOptions {
  /** How long a taken entry may stay unacknowledged before another reader gets it. */
  claimIdleMs: number;
  clock?: () => number;
  /** Dead letters kept; the oldest go first. */
  maxDeadLetters?: number;
}

/**
 * The embedded default: the same hand-out, claim and dead-letter rules as the Redis Stream,
 * for one process. Entries live in memory, so only a graceful stop keeps them (the gateway
 * flushes its workers before it exits).
 */
export class MemoryUsageQueue implements UsageQueue {
  /** Insertion order is publication order, which reads follow. */
  private readonly entries = new Map<string, Entry>();
  private readonly dead: DeadLetter[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly clock: () => number;
  private sequence = 0;

  constructor(private readonly options: MemoryUsageQueueOptions) {
    this.clock = options.clock ?? Date.now;
  }

  async publish(events: UsageEvent[]): Promise<void> {
    const now = this.clock();
    for (const event of events) {
      this.sequence += 1;
      const id = `${now}-${this.sequence}`;
      this.entries.set(id, {
        id,
        raw: encodeUsageEvent(event),
        attempts: 0,
        owner: null,
        deliveredAt: 0,
      });
    }
    for (const wake of this.waiters) wake();
  }

  async read(consumer: string, count: number, blockMs: number): Promise<Delivery[]> {
    const taken = this.take(consumer, count);
    if (taken.length > 0 || blockMs <= 0) return taken;
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, blockMs);
      this.waiters.add(wake);
    });
    return this.take(consumer, count);
  }

  async ack(ids: string[]): Promise<void> {
    for (const id of ids) this.entries.delete(id);
  }

  async deadLetter(delivery: Delivery, reason: string): Promise<void> {
    if (!this.entries.delete(delivery.id)) return;
    const { id, raw, attempts } = delivery;
    this.dead.push({ id, raw, reason, attempts, at: new Date(this.clock()) });
    const max = this.options.maxDeadLetters ?? 10_000;
    if (this.dead.length > max) this.dead.splice(0, this.dead.length - max);
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    return this.dead.slice(-limit).reverse();
  }

  async backlog(): Promise<number> {
    return this.entries.size;
  }

  /** Nothing outlives the process here, which the gateway meets by draining at stop. */
  async durabilityWarning(): Promise<string | null> {
    return null;
  }

  async close(): Promise<void> {
    for (const wake of this.waiters) wake();
  }

  /** Idle entries of any consumer first, as XPENDING + XCLAIM would find them; then new ones. */
  private take(consumer: string, count: number): Delivery[] {
    const now = this.clock();
    const idle = [...this.entries.values()].filter(
      (entry) => entry.owner !== null && now - entry.deliveredAt >= this.options.claimIdleMs,
    );
    const chosen =
      idle.length > 0 ? idle : [...this.entries.values()].filter((e) => e.owner === null);
    return chosen.slice(0, count).map((entry) => {
      entry.owner = consumer;
      entry.deliveredAt = now;
      entry.attempts += 1;
      return {
        id: entry.id,
        raw: entry.raw,
        event: decodeUsageEvent(entry.raw),
        attempts: entry.attempts,
      };
    });
  }
}
