import type { ProvisionalUsage } from './provisional-usage.js';
import type { UsageQueue } from './queue.js';

export interface ProvisionalSweeperOptions {
  provisional: ProvisionalUsage;
  queue: Pick<UsageQueue, 'publish'>;
  /** How often running streams record their progress (USAGE_PROGRESS_MS). */
  progressMs: number;
  log: { warn(details: object, message: string): void };
  clock?: () => number;
  /** Told how many orphaned records were queued (for metrics and tests). */
  onSwept?: (events: number) => void;
}

/**
 * A record not rewritten for this many progress periods belongs to a stream whose gateway
 * died (or stalled that long): a live stream rewrites its record every period.
 */
export const ORPHAN_PERIODS = 3;

/**
 * Queues the usage of streams whose gateway died mid-way: records not rewritten for
 * ORPHAN_PERIODS progress periods are taken (leased, so one sweeper takes each), queued as
 * usage events with the id the stream's final event would have had, then removed. A sweeper
 * that dies between the two leaves the record to the next once the lease is over; queuing it
 * twice is harmless, the tenant database counts an event id once.
 */
export class ProvisionalSweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly options: ProvisionalSweeperOptions) {}

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      this.running ??= this.sweep()
        .then(() => {})
        .catch((error: unknown) =>
          this.options.log.warn({ err: error }, 'provisional usage sweep failed; retrying'),
        )
        .finally(() => {
          this.running = null;
        });
    }, this.options.progressMs);
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass; returns how many orphaned records it queued. */
  async sweep(): Promise<number> {
    const { provisional, queue, progressMs } = this.options;
    const now = (this.options.clock ?? Date.now)();
    let swept = 0;
    for (;;) {
      const orphans = await provisional.claimOrphans(
        now - ORPHAN_PERIODS * progressMs,
        now + ORPHAN_PERIODS * progressMs,
        100,
      );
      if (orphans.length === 0) break;
      await queue.publish(orphans);
      for (const event of orphans) await provisional.settle(event.id);
      swept += orphans.length;
      this.options.onSwept?.(orphans.length);
    }
    return swept;
  }
}
