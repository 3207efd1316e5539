import type { UsageQueue } from './queue.js';
import type { UsageEvent, UsageRecords } from './usage-records.js';

export interface UsagePublisherLog {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface UsagePublisherOptions {
  queue: UsageQueue;
  /** The last resort at shutdown, when the queue cannot take what is still buffered. */
  records: Pick<UsageRecords, 'write'>;
  /** Where trouble is told; the app attaches its logger once it has one. */
  log?: UsagePublisherLog;
  /** How long an event may wait to share a batch with others. */
  lingerMs?: number;
  maxBatch?: number;
  /** Pause before trying an unreachable queue again. */
  retryMs?: number;
}

/** An event waiting for the queue, and who waits for it to be held there. */
interface Pending {
  event: UsageEvent;
  held: () => void;
}

/**
 * Hands usage events to the queue: events gather for a few milliseconds and go as one
 * pipelined batch. An event committed (an answer waits for it) goes in this turn of the
 * loop instead, with every other event that arrived meanwhile: concurrent answers share one
 * write, and those arriving while a write is in flight share the next one (group commit).
 * While the queue is unreachable events stay here, in order, and go when it is back; a stop
 * publishes what is left, or writes it straight to the tenants' databases when the queue is
 * still down.
 */
export class UsagePublisher {
  private buffer: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;
  private log: UsagePublisherLog;

  constructor(private readonly options: UsagePublisherOptions) {
    this.log = options.log ?? { warn: () => {}, error: () => {} };
  }

  attachLog(log: UsagePublisherLog): void {
    this.log = log;
  }

  /** Events held here, not yet in the queue. */
  get buffered(): number {
    return this.buffer.length;
  }

  /** Queues the event off the caller's path: it may wait a few milliseconds for company. */
  publish(event: UsageEvent): void {
    this.buffer.push({ event, held: () => {} });
    if (this.closed) return;
    this.schedule(this.options.lingerMs ?? 5);
  }

  /**
   * Queues the event in the next write and resolves once the queue holds it (in Redis: the
   * XADD was acknowledged), or once a stop wrote it to its database. It never rejects: while
   * the queue is down it stays pending, and the caller bounds its own wait.
   */
  commit(event: UsageEvent): Promise<void> {
    return new Promise((held) => {
      this.buffer.push({ event, held });
      if (this.closed) return;
      this.scheduleNow();
    });
  }

  /** Publishes everything buffered; then, if the queue refuses, writes it to the databases. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    await this.flushing;
    try {
      while (this.buffer.length > 0) await this.send();
    } catch (error) {
      this.log.warn(
        { err: error, events: this.buffer.length },
        'usage queue down at stop; writing usage directly',
      );
      await this.writeDirectly();
    }
  }

  private schedule(delayMs: number): void {
    if (this.timer !== null || this.immediate !== null || this.flushing !== null) return;
    this.timer = setTimeout(() => this.startFlush(), delayMs);
  }

  /**
   * At the end of this turn of the loop, so the events of answers finishing together go in
   * one write; a write in flight takes the new ones as soon as it is back.
   */
  private scheduleNow(): void {
    if (this.flushing !== null || this.immediate !== null) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.immediate = setImmediate(() => this.startFlush());
  }

  private startFlush(): void {
    this.timer = null;
    this.immediate = null;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
      if (this.buffer.length > 0 && !this.closed) this.schedule(0);
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.buffer.length > 0 && !this.closed) await this.send();
    } catch (error) {
      this.log.warn(
        { err: error, events: this.buffer.length },
        'usage queue unreachable; holding events',
      );
      await new Promise((resolve) => setTimeout(resolve, this.options.retryMs ?? 1000));
    }
  }

  /** One batch; it leaves the buffer only once the queue has it. */
  private async send(): Promise<void> {
    const batch = this.buffer.slice(0, this.options.maxBatch ?? 500);
    await this.options.queue.publish(batch.map((pending) => pending.event));
    this.buffer = this.buffer.slice(batch.length);
    for (const pending of batch) pending.held();
  }

  private async writeDirectly(): Promise<void> {
    const byTenant = new Map<string, UsageEvent[]>();
    for (const { event } of this.buffer) {
      const events = byTenant.get(event.tenantId) ?? [];
      events.push(event);
      byTenant.set(event.tenantId, events);
    }
    for (const [tenantId, events] of byTenant) {
      try {
        await this.options.records.write(tenantId, events);
        const written = this.buffer.filter(({ event }) => event.tenantId === tenantId);
        this.buffer = this.buffer.filter(({ event }) => event.tenantId !== tenantId);
        for (const pending of written) pending.held();
      } catch (error) {
        // Nowhere left to put them: the log line carries them whole, for an operator to replay.
        this.log.error({ err: error, tenantId, events }, 'usage events not recorded');
      }
    }
  }
}
