import { MemoryConsumerGroup } from '../../storage/memory-group.js';
import { type DeadLetter, type Delivery, timeOfEntry, type UsageQueue } from './queue.js';
import type { UsageEvent } from './usage-records.js';
import { decodeUsageEvent, encodeUsageEvent } from './usage-wire.js';

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
 * flushes its workers before it exits). Entries are kept encoded, as Redis keeps them, so
 * both queues hand out the same thing.
 */
export class MemoryUsageQueue implements UsageQueue {
  private readonly group: MemoryConsumerGroup<string>;
  private readonly dead: DeadLetter[] = [];

  constructor(private readonly options: MemoryUsageQueueOptions) {
    this.group = new MemoryConsumerGroup(options);
  }

  async publish(events: UsageEvent[]): Promise<void> {
    this.group.add(events.map(encodeUsageEvent));
  }

  async read(consumer: string, count: number, blockMs: number): Promise<Delivery[]> {
    const taken = await this.group.read(consumer, count, blockMs);
    return taken.map(({ id, value, attempts }) => ({
      id,
      raw: value,
      event: decodeUsageEvent(value),
      attempts,
    }));
  }

  async ack(ids: string[]): Promise<void> {
    for (const id of ids) this.group.remove(id);
  }

  async deadLetter(delivery: Delivery, reason: string): Promise<void> {
    if (!this.group.remove(delivery.id)) return;
    const { id, raw, attempts } = delivery;
    this.dead.push({ id, raw, reason, attempts, at: new Date((this.options.clock ?? Date.now)()) });
    const max = this.options.maxDeadLetters ?? 10_000;
    if (this.dead.length > max) this.dead.splice(0, this.dead.length - max);
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    return this.dead.slice(-limit).reverse();
  }

  async backlog(): Promise<number> {
    return this.group.size;
  }

  async pending(): Promise<number> {
    return this.group.taken;
  }

  async deadLetterCount(): Promise<number> {
    return this.dead.length;
  }

  async oldest(): Promise<Date | null> {
    return timeOfEntry(this.group.firstId());
  }

  /** Nothing outlives the process here, which the gateway meets by draining at stop. */
  async durabilityWarning(): Promise<string | null> {
    return null;
  }

  async close(): Promise<void> {
    this.group.wakeAll();
  }
}
