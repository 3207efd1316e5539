/** An entry handed to a consumer, with how often it has been handed out, this time included. */
export interface Taken<T> {
  id: string;
  value: T;
  attempts: number;
}

interface Entry<T> {
  value: T;
  attempts: number;
  /** The consumer holding it; null while nobody has taken it. */
  owner: string | null;
  takenAt: number;
}

export interface MemoryConsumerGroupOptions {
  /** How long a taken entry may stay unacknowledged before another reader gets it. */
  claimIdleMs: number;
  clock?: () => number;
}

/**
 * A Redis Stream's consumer group, for one process: each entry goes to one reader at a time,
 * in order, until acknowledged; one left idle for the claim time goes to the next reader.
 * The in-process twins of the Redis queues are built on it, so both follow the same rules.
 */
export class MemoryConsumerGroup<T> {
  /** Insertion order is arrival order, which reads follow. */
  private readonly entries = new Map<string, Entry<T>>();
  private readonly waiters = new Set<() => void>();
  private readonly clock: () => number;
  private sequence = 0;

  constructor(private readonly options: MemoryConsumerGroupOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** The oldest entry's id (entries keep the order they came in). */
  firstId(): string | undefined {
    return this.entries.keys().next().value;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Entries handed out and not yet removed. */
  get taken(): number {
    let count = 0;
    for (const entry of this.entries.values()) if (entry.owner !== null) count += 1;
    return count;
  }

  add(values: T[]): void {
    const now = this.clock();
    for (const value of values) {
      this.sequence += 1;
      this.entries.set(`${now}-${this.sequence}`, { value, attempts: 0, owner: null, takenAt: 0 });
    }
    this.wakeAll();
  }

  /** Up to `count` entries: idle ones of any consumer first, then new ones, waiting up to `blockMs`. */
  async read(consumer: string, count: number, blockMs: number): Promise<Taken<T>[]> {
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

  /** Removes an entry for good; false when it was not there (acknowledged already). */
  remove(id: string): boolean {
    return this.entries.delete(id);
  }

  /** Restarts the idle time of entries `consumer` holds: it is still at work on them. */
  touch(consumer: string, ids: readonly string[]): void {
    const now = this.clock();
    for (const id of ids) {
      const entry = this.entries.get(id);
      if (entry?.owner === consumer) entry.takenAt = now;
    }
  }

  /** Ends every wait at once (the group is closing). */
  wakeAll(): void {
    for (const wake of this.waiters) wake();
  }

  private take(consumer: string, count: number): Taken<T>[] {
    const now = this.clock();
    const all = [...this.entries];
    const idle = all.filter(
      ([, entry]) => entry.owner !== null && now - entry.takenAt >= this.options.claimIdleMs,
    );
    const chosen = idle.length > 0 ? idle : all.filter(([, entry]) => entry.owner === null);
    return chosen.slice(0, count).map(([id, entry]) => {
      entry.owner = consumer;
      entry.takenAt = now;
      entry.attempts += 1;
      return { id, value: entry.value, attempts: entry.attempts };
    });
  }
}
