/** A delivery that is due (or will be): where to find its row. */
export interface DueEntry {
  tenantId: string;
  deliveryId: string;
}

/**
 * When each pending delivery is next due, across every tenant: a hint that spares the
 * dispatchers from polling every tenant database. The delivery rows stay the truth; the
 * index is rebuilt from them at start and from time to time, so losing it (Redis restarted
 * without persistence, the process stopped) only delays retries.
 */
export interface DueIndex {
  /** Adds entries, or moves them to their new time. */
  schedule(entries: (DueEntry & { at: Date })[]): Promise<void>;
  /**
   * Up to `count` entries due at `now`, each moved `leaseMs` later as it is taken, so no
   * other dispatcher takes it meanwhile and it comes back should this one die with it.
   */
  take(now: number, count: number, leaseMs: number): Promise<DueEntry[]>;
  remove(entry: DueEntry): Promise<void>;
  /** When the earliest entry is due (ms since the epoch), or null when there is none. */
  next(): Promise<number | null>;
  /** How many deliveries are scheduled (due now or later), for the metrics. */
  size(): Promise<number>;
  /** Told when this process schedules something, so its dispatchers need not wait to poll. */
  onSchedule(listener: () => void): () => void;
  close(): Promise<void>;
}

export const memberOf = (entry: DueEntry) => `${entry.tenantId}:${entry.deliveryId}`;

export function entryOf(member: string): DueEntry | null {
  const [tenantId, deliveryId, ...rest] = member.split(':');
  if (!tenantId || !deliveryId || rest.length > 0) return null;
  return { tenantId, deliveryId };
}

/** Local wake-ups, shared by both indexes. */
export class Listeners {
  private readonly listeners = new Set<() => void>();

  add(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  notify(): void {
    for (const listener of this.listeners) listener();
  }
}

/** The embedded default, for one process. */
export class MemoryDueIndex implements DueIndex {
  private readonly due = new Map<string, number>();
  private readonly listeners = new Listeners();

  async schedule(entries: (DueEntry & { at: Date })[]): Promise<void> {
    for (const entry of entries) this.due.set(memberOf(entry), entry.at.getTime());
    if (entries.length > 0) this.listeners.notify();
  }

  async take(now: number, count: number, leaseMs: number): Promise<DueEntry[]> {
    const taken = [...this.due]
      .filter(([, at]) => at <= now)
      .sort((a, b) => a[1] - b[1])
      .slice(0, count);
    for (const [member] of taken) this.due.set(member, now + leaseMs);
    return taken.map(([member]) => entryOf(member)).filter((entry) => entry !== null);
  }

  async remove(entry: DueEntry): Promise<void> {
    this.due.delete(memberOf(entry));
  }

  async size(): Promise<number> {
    return this.due.size;
  }

  async next(): Promise<number | null> {
    let earliest: number | null = null;
    for (const at of this.due.values()) if (earliest === null || at < earliest) earliest = at;
    return earliest;
  }

  onSchedule(listener: () => void): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {}
}
