import { MemoryConsumerGroup } from '../../storage/memory-group.js';
import type { EventFeed, FedEvent } from './event-feed.js';
import type { MemoryEventLog, PlatformEvent } from './event-log.js';

/**
 * The embedded default: the in-process event log read with the same hand-out and claim
 * rules as a consumer group, from the moment the feed is made. Entries live in memory, so
 * events not yet fanned out when the process stops are lost (delivery rows already made
 * are in the tenant's database and survive).
 */
export class MemoryEventFeed implements EventFeed {
  private readonly group: MemoryConsumerGroup<PlatformEvent>;
  private readonly unsubscribe: () => void;

  constructor(log: MemoryEventLog, options: { claimIdleMs: number; clock?: () => number }) {
    this.group = new MemoryConsumerGroup(options);
    this.unsubscribe = log.subscribe((event) => this.group.add([event]));
  }

  async read(consumer: string, count: number, blockMs: number): Promise<FedEvent[]> {
    const taken = await this.group.read(consumer, count, blockMs);
    return taken.map(({ id, value, attempts }) => ({ entryId: id, event: value, attempts }));
  }

  async ack(entryIds: string[]): Promise<void> {
    for (const id of entryIds) this.group.remove(id);
  }

  async close(): Promise<void> {
    this.unsubscribe();
    this.group.wakeAll();
  }
}
