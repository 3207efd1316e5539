import { DeadlineExceeded, withDeadline } from '../../utils/deadline.js';
import type { ProvisionalUsage } from './provisional-usage.js';
import type { UsagePublisher } from './usage-publisher.js';
import type { UsageEvent } from './usage-records.js';

export interface UsageCommitLog {
  warn(details: object, message: string): void;
}

export interface UsageCommitOptions {
  publisher: Pick<UsagePublisher, 'commit'>;
  provisional: ProvisionalUsage;
  /** The longest an answer waits for its event to be queued (USAGE_COMMIT_TIMEOUT_MS). */
  timeoutMs: number;
  /** How often a running stream records its progress (USAGE_PROGRESS_MS). */
  progressMs: number;
  log: UsageCommitLog;
  /** Told how long each answer waited, and whether its event was queued in that time. */
  onWait?: (seconds: number, outcome: 'committed' | 'timed_out') => void;
  clock?: () => number;
}

/**
 * Makes an answer's usage durable before the answer's last byte leaves: the handler commits
 * the event and sends only once the queue holds it. Commits of concurrent answers share one
 * write (the publisher's group commit). An unreachable queue holds no answer hostage: after
 * `timeoutMs` the answer goes anyway and its event stays buffered in the publisher, to be
 * queued when the queue is back, as every event was before. Streams also record their
 * progress while they run, so a crash loses at most one progress period of a stream's usage.
 */
export class UsageCommitter {
  /**
   * Events with a progress record in the store: only those have one to remove, and most
   * streams end before their first progress period, so they cost the store nothing.
   */
  private readonly recorded = new Set<string>();

  constructor(private readonly options: UsageCommitOptions) {}

  /** Resolves once the event is queued or `timeoutMs` passed; never rejects. */
  async commit(event: UsageEvent): Promise<void> {
    const started = performance.now();
    const waited = () => (performance.now() - started) / 1000;
    try {
      // Busy-loop aware: a reply waiting in its socket when the timer fires still counts.
      await withDeadline(this.options.publisher.commit(event), this.options.timeoutMs);
      this.options.onWait?.(waited(), 'committed');
    } catch (error) {
      if (!(error instanceof DeadlineExceeded)) throw error;
      this.options.onWait?.(waited(), 'timed_out');
      this.options.log.warn(
        { eventId: event.id, timeoutMs: this.options.timeoutMs },
        'usage queue did not take the event in time; answering, the event stays buffered',
      );
      return;
    }
    // Off the answer's path: a record left behind is swept as the same event id, counted once.
    if (event.streamed) void this.settle(event.id);
  }

  /**
   * Queues the event of a request that ended without a commit (its client left, it failed
   * after the headers) off the response's path; a stream's progress record goes once it is.
   */
  publish(event: UsageEvent): void {
    void this.options.publisher.commit(event).then(() => {
      if (event.streamed) return this.settle(event.id);
    });
  }

  /**
   * Records a running stream's usage so far every progress period, until the returned stop
   * is called (the stream ended, however). `snapshot` gives the event as it stands; null
   * means nothing to record.
   */
  track(snapshot: () => Promise<UsageEvent | null>): () => void {
    let stopped = false;
    let writing: Promise<void> | null = null;
    const timer = setInterval(() => {
      if (writing !== null) return;
      writing = this.recordProgress(snapshot, () => stopped).finally(() => {
        writing = null;
      });
    }, this.options.progressMs);
    timer.unref();
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }

  private async recordProgress(
    snapshot: () => Promise<UsageEvent | null>,
    stopped: () => boolean,
  ): Promise<void> {
    try {
      const event = await snapshot();
      // A stream that ended meanwhile has its final event: no record to leave behind.
      if (event === null || stopped()) return;
      await this.options.provisional.record(event, (this.options.clock ?? Date.now)());
      this.recorded.add(event.id);
      if (stopped()) await this.settle(event.id);
    } catch (error) {
      this.options.log.warn({ err: error }, 'stream progress not recorded');
    }
  }

  private async settle(eventId: string): Promise<void> {
    if (!this.recorded.delete(eventId)) return;
    try {
      await this.options.provisional.settle(eventId);
    } catch (error) {
      // The sweeper queues it under the same event id: counted once all the same.
      this.options.log.warn({ err: error, eventId }, 'provisional usage not removed');
    }
  }
}
