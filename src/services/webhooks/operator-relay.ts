import { Loop } from '../../utils/loop.js';
import type { EventFeed, FedEvent } from '../events/event-feed.js';
import type { PlatformEvent } from '../events/event-log.js';
import type { DispatcherLog } from './dispatcher.js';
import type { WebhookSender } from './sender.js';
import { signedHeaders } from './signing.js';

/** The consumer group of the operator webhook on the event log. */
export const OPERATOR_GROUP = 'operator-webhook';

/** The platform's own webhook: where operators hear of alerts. */
export interface OperatorWebhook {
  url: string;
  /** `whsec_...`, as tenant webhook secrets. */
  secret: string;
}

export interface OperatorRelayOptions {
  webhook: OperatorWebhook;
  /** The event log read by the operator group; its claim time is the wait between attempts. */
  feed: EventFeed;
  sender: WebhookSender;
  consumer: string;
  log: DispatcherLog;
  /** Attempts of one event before it is given up (logged as an error). */
  maxAttempts?: number;
}

/** Operators hear every alert, a tenant's too, and every event that belongs to no tenant. */
export const forOperators = (event: PlatformEvent): boolean =>
  event.tenantId === null || event.type.startsWith('alert.');

/**
 * Sends the events operators hear to the operator webhook, signed as tenant webhooks are.
 * An event is acknowledged only once the receiver took it (or after its last attempt), so a
 * failed attempt, a restart or a dead instance leaves it in the group to be tried again
 * after the claim time.
 */
export class OperatorRelay {
  private readonly loop: Loop;

  constructor(private readonly options: OperatorRelayOptions) {
    this.loop = new Loop(
      async () => {
        for (const item of await options.feed.read(options.consumer, 50, 1000))
          await this.relay(item);
      },
      (error) => options.log.warn({ err: error }, 'event log unreachable; retrying'),
    );
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async relay({ entryId, event, attempts }: FedEvent): Promise<void> {
    const { feed, sender, webhook, log, maxAttempts = 8 } = this.options;
    if (event === null || !forOperators(event)) return feed.ack([entryId]);
    const body = JSON.stringify({
      type: event.type,
      timestamp: event.at.toISOString(),
      data: { ...event.data, tenant_id: event.tenantId },
    });
    const headers = { ...signedHeaders(event.id, new Date(), body, [webhook.secret]) };
    const outcome = await sender.send({ url: webhook.url, headers, body });
    const delivered = outcome.statusCode !== null && outcome.statusCode < 300;
    const details = { eventId: event.id, type: event.type, attempt: attempts, ...outcome };
    if (delivered) return feed.ack([entryId]);
    if (attempts < maxAttempts) return log.warn(details, 'operator webhook failed; will retry');
    log.error(details, 'operator webhook gave up');
    await feed.ack([entryId]);
  }
}
