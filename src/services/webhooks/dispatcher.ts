import { GatewayError } from '../../errors/gateway-error.js';
import type { EventFeed, FedEvent } from '../events/event-feed.js';
import type { ClaimedDelivery, DeliveryAttempts } from './delivery-attempts.js';
import type { DeliveryService } from './delivery-service.js';
import type { DueIndex } from './due-index.js';
import type { WebhookSender } from './sender.js';
import { signedHeaders } from './signing.js';
import type { WebhookService } from './webhook-service.js';

export interface DispatcherLog {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface WebhookDispatcherOptions {
  feed: EventFeed;
  due: DueIndex;
  deliveries: DeliveryService;
  attempts: DeliveryAttempts;
  webhooks: WebhookService;
  sender: WebhookSender;
  /** Unique per dispatcher: the name its taken events are held under. */
  consumer: string;
  log: DispatcherLog;
  /** How long a taken delivery stays hidden from other dispatchers: beyond any attempt. */
  leaseMs: number;
  /** The longest wait between two looks at the due index (other instances' deliveries). */
  pollMs?: number;
  /** Deliveries attempted at once. */
  concurrency?: number;
  /** Hand-outs of an event whose fan-out fails while its database answers, before it is dropped. */
  maxEventAttempts?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const isGone = (error: unknown) =>
  error instanceof GatewayError && error.code === 'tenant_not_found';

/**
 * Two loops: one reads the event log and turns each tenant event into delivery rows (then
 * acknowledges it), the other takes due deliveries from the index and attempts them. Rows
 * are made before the event is acknowledged, and a delivery is leased in its row before it
 * is sent, so a dispatcher dying anywhere loses nothing: its events and deliveries come back
 * to another one after the claim or lease time.
 */
export class WebhookDispatcher {
  private running: Promise<void>[] = [];
  private stopping = false;
  private wake: (() => void) | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly options: WebhookDispatcherOptions) {}

  start(): void {
    if (this.running.length > 0) return;
    this.stopping = false;
    this.unsubscribe = this.options.due.onSchedule(() => this.wake?.());
    this.running = [this.intakeLoop(), this.sendLoop()];
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    this.unsubscribe?.();
    await Promise.all(this.running);
    this.running = [];
  }

  private async intakeLoop(): Promise<void> {
    while (!this.stopping) {
      try {
        const fed = await this.options.feed.read(this.options.consumer, 100, 1000);
        for (const item of fed) await this.intake(item);
      } catch (error) {
        if (this.stopping) break;
        this.options.log.warn({ err: error }, 'event log unreachable; retrying');
        await sleep(1000);
      }
    }
  }

  /** Fans one event out; leaves it unacknowledged while its tenant's database is down. */
  private async intake(item: FedEvent): Promise<void> {
    const { feed, deliveries, log, maxEventAttempts = 5 } = this.options;
    const event = item.event;
    // Platform-wide events (no tenant) have no tenant webhooks to go to.
    if (event === null || event.tenantId === null) return feed.ack([item.entryId]);
    try {
      await deliveries.fanOut({ ...event, tenantId: event.tenantId });
      await feed.ack([item.entryId]);
    } catch (error) {
      if (isGone(error)) return feed.ack([item.entryId]);
      if (item.attempts >= maxEventAttempts) {
        log.error({ err: error, eventId: event.id, tenantId: event.tenantId }, 'event dropped');
        return feed.ack([item.entryId]);
      }
      log.warn({ err: error, eventId: event.id }, 'webhook fan-out failed; will retry');
    }
  }

  private async sendLoop(): Promise<void> {
    const { due, leaseMs, pollMs = 1000, concurrency = 8 } = this.options;
    while (!this.stopping) {
      try {
        const taken = await due.take(Date.now(), concurrency, leaseMs);
        await Promise.all(taken.map((entry) => this.deliver(entry)));
        if (taken.length > 0) continue;
        const next = await due.next();
        const wait = next === null ? pollMs : Math.min(pollMs, Math.max(0, next - Date.now()));
        await this.pause(wait);
      } catch (error) {
        this.options.log.warn({ err: error }, 'webhook due index unreachable; retrying');
        await this.pause(pollMs);
      }
    }
  }

  private pause(ms: number): Promise<void> {
    if (ms <= 0 || this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async deliver(entry: Parameters<DeliveryAttempts['claim']>[0]): Promise<void> {
    const { attempts, leaseMs, log } = this.options;
    try {
      const claimed = await attempts.claim(entry, new Date(), leaseMs);
      if (claimed === null) return;
      await attempts.record(claimed, await this.attempt(claimed));
    } catch (error) {
      // Left leased: tried again once the lease runs out.
      log.warn({ err: error, ...entry }, 'webhook delivery failed to run; will retry');
    }
  }

  private async attempt(claimed: ClaimedDelivery) {
    const { delivery, webhook, secrets: sealed } = claimed;
    // The payload's keys in their documented order (jsonb keeps its own).
    const { type, timestamp, data } = delivery.payload;
    const body = JSON.stringify({ type, timestamp, data });
    let secrets: string[];
    try {
      secrets = this.options.webhooks.signingSecrets(webhook, sealed);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { at: new Date(), statusCode: null, error: `cannot sign: ${message}`, durationMs: 0 };
    }
    const headers = signedHeaders(delivery.eventId, new Date(), body, secrets);
    return this.options.sender.send({ url: webhook.url, headers: { ...headers }, body });
  }
}
