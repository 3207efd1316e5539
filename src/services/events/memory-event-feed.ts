import type { EventFeed, FedEvent } from './event-feed.js';
import type { MemoryEventLog, PlatformEvent } from './event-log.js';

interface Entry {
  event: PlatformEvent;
  attempts: number;
  owner: string | null;
  takenAt: number;
}

/**
 * The embedded default: the in-process event log read with the same hand-out and claim
 * rules as a consumer group, from the moment the feed is made. Entries live in memory, so
 * events not yet fanned out when the process stops are lost (delivery rows already made
 * are in the tenant's database and survive).
 */
export class MemoryEventFeed implements EventFeed {
  private readonly entries = new Map<string, Entry>();
  private readonly waiters = new Set<() => void>();
  private readonly unsubscribe: () => void;
  private sequence = 0;

  constructor(
    log: MemoryEventLog,
    private readonly options: { claimIdleMs: number; clock?: () => number },
  ) {
    this.unsubscribe = log.subscribe((event) => {
      this.sequence += 1;
      this.entries.set(String(this.sequence), { event, attempts: 0, owner: null, takenAt: 0 });
      for (const wake of this.waiters) wake();
    });
  }

  async read(consumer: string, count: number, blockMs: number): Promise<FedEvent[]> {
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

  async ack(entryIds: string[]): Promise<void> {
    for (const id of entryIds) this.entries.delete(id);
  }

  async close(): Promise<void> {
    this.unsubscribe();
    for (const wake of this.waiters) wake();
  }

  private take(consumer: string, count: number): FedEvent[] {
    const now = (this.options.clock ?? Date.now)();
    const all = [...this.entries];
    const idle = all.filter(
      ([, entry]) => entry.owner !== null && now - entry.takenAt >= this.options.claimIdleMs,
    );
    const chosen = idle.length > 0 ? idle : all.filter(([, entry]) => entry.owner === null);
    return chosen.slice(0, count).map(([entryId, entry]) => {
      entry.owner = consumer;
      entry.takenAt = now;
      entry.attempts += 1;
      return { entryId, event: entry.event, attempts: entry.attempts };
    });
  }
}
