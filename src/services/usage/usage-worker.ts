import { GatewayError } from '../../errors/gateway-error.js';
import type { Delivery, UsageQueue } from './queue.js';
import type { UsageEvent, UsageRecords } from './usage-records.js';

export interface UsageWorkerLog {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface UsageWorkerOptions {
  queue: UsageQueue;
  records: Pick<UsageRecords, 'write' | 'reachable'>;
  /** Unique per worker: the name its pending entries are held under. */
  consumer: string;
  log: UsageWorkerLog;
  batchSize?: number;
  /** How long one read waits for new entries; also how long stop() may wait. */
  blockMs?: number;
  /**
   * After a read that found fewer entries than a batch, how long to let more gather before
   * the next: a read, a write and an acknowledgement per batch instead of per event.
   */
  gatherMs?: number;
  /** Deliveries of an entry whose own write fails before it is set aside. */
  maxAttempts?: number;
  /** Pause after the queue or a database could not be reached. */
  backoffMs?: number;
  /** Told how many rows each write added (for metrics). */
  onWritten?: (rows: number) => void;
}

const BATCH_SIZE = 500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Writes queued usage events to the tenants' databases, one batch per tenant per read, and
 * acknowledges them only once written. Writes are idempotent on the event id, so an entry
 * handed out twice (this worker died after writing, before acknowledging) counts once. An
 * entry whose tenant database is down stays pending and is tried again after the claim
 * time, however long that takes; only an entry that fails on its own while its database
 * answers, `maxAttempts` times, is set aside as a dead letter.
 */
export class UsageWorker {
  private running: Promise<void> | null = null;
  private stopping = false;

  constructor(private readonly options: UsageWorkerOptions) {}

  start(): void {
    if (this.running !== null) return;
    this.stopping = false;
    this.running = this.loop();
  }

  /** Finishes the batch in hand (and at most one read's wait), then stops. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    this.running = null;
  }

  /** Reads and writes until the queue has nothing left for this worker; for flushes and tests. */
  async drain(): Promise<void> {
    while ((await this.once(0)) > 0) {}
  }

  private async loop(): Promise<void> {
    const { blockMs = 1000, gatherMs = 100, batchSize = BATCH_SIZE } = this.options;
    while (!this.stopping) {
      try {
        const read = await this.once(blockMs);
        if (read > 0 && read < batchSize && gatherMs > 0 && !this.stopping) await sleep(gatherMs);
      } catch (error) {
        this.options.log.warn({ err: error }, 'usage queue unreachable; retrying');
        await sleep(this.options.backoffMs ?? 1000);
      }
    }
  }

  /** One read and its writes; returns how many entries it was handed. */
  async once(blockMs: number): Promise<number> {
    const { queue, consumer, batchSize = BATCH_SIZE } = this.options;
    const deliveries = await queue.read(consumer, batchSize, blockMs);
    const byTenant = new Map<string, Delivery[]>();
    for (const delivery of deliveries) {
      if (delivery.event === null) {
        await queue.deadLetter(delivery, 'not a usage event');
        continue;
      }
      const group = byTenant.get(delivery.event.tenantId) ?? [];
      group.push(delivery);
      byTenant.set(delivery.event.tenantId, group);
    }
    for (const [tenantId, group] of byTenant) await this.writeGroup(tenantId, group);
    return deliveries.length;
  }

  private async writeGroup(tenantId: string, group: Delivery[]): Promise<void> {
    const { queue, records } = this.options;
    try {
      const written = await records.write(tenantId, group.map(eventOf));
      this.options.onWritten?.(written);
      await queue.ack(group.map((delivery) => delivery.id));
      return;
    } catch (error) {
      if (isGone(error)) {
        for (const delivery of group) await queue.deadLetter(delivery, 'tenant not found');
        return;
      }
      if (isMoving(error)) {
        // Held in the queue, not failed: claimed again once the move has switched servers.
        this.options.log.warn({ tenantId }, 'tenant is moving; its usage waits in the queue');
        return;
      }
      if (!(await records.reachable(tenantId))) {
        // Left pending: claimed again after the claim time, until the database is back.
        this.options.log.warn({ err: error, tenantId }, 'usage write failed; will retry');
        await sleep(this.options.backoffMs ?? 1000);
        return;
      }
    }
    // The database answers, so some entry of the batch is at fault: find it one by one.
    for (const delivery of group) await this.writeOne(tenantId, delivery);
  }

  private async writeOne(tenantId: string, delivery: Delivery): Promise<void> {
    const { queue, records, maxAttempts = 5 } = this.options;
    try {
      const written = await records.write(tenantId, [eventOf(delivery)]);
      this.options.onWritten?.(written);
      await queue.ack([delivery.id]);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (delivery.attempts < maxAttempts) {
        this.options.log.warn({ err: error, entry: delivery.id }, 'usage event write failed');
        return;
      }
      this.options.log.error({ entry: delivery.id, reason }, 'usage event set aside');
      await queue.deadLetter(delivery, reason);
    }
  }
}

const eventOf = (delivery: Delivery) => delivery.event as UsageEvent;

const isMoving = (error: unknown) =>
  error instanceof GatewayError && error.code === 'tenant_moving';

const isGone = (error: unknown) =>
  error instanceof GatewayError && error.code === 'tenant_not_found';
