import type { EventFeed } from '../events/event-feed.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { consumerName } from '../usage/usage-workers.js';
import { DeliveryAttempts } from './delivery-attempts.js';
import { type DispatcherLog, WebhookDispatcher } from './dispatcher.js';
import { OperatorRelay, type OperatorWebhook } from './operator-relay.js';
import { WebhookSender } from './sender.js';
import type { Webhooks } from './webhooks.js';

/** The consumer group webhook dispatchers share on the event log. */
export const WEBHOOK_GROUP = 'webhooks';
/** How often the due index is rebuilt from the delivery rows, should Redis have lost it. */
const RESYNC_MS = 10 * 60_000;

export interface WebhookWorkersOptions {
  webhooks: Webhooks;
  tenants: TenantService;
  feed: EventFeed;
  count: number;
  log: DispatcherLog;
  /** The longest wait between two looks at the due index. */
  pollMs?: number;
  /** The platform's own webhook and the event log read by its group; none: not relayed. */
  operator?: { webhook: OperatorWebhook; feed: EventFeed } | null;
  /** Told of each delivery attempt to a tenant's webhook: its time and outcome. */
  onAttempt?: (seconds: number, outcome: 'delivered' | 'failed') => void;
}

export interface RunningWebhookWorkers {
  stop(): Promise<void>;
}

/** Puts every pending delivery of every tenant back into the due index. */
export async function rebuildDueIndex(
  webhooks: Webhooks,
  tenants: TenantService,
  log: DispatcherLog,
): Promise<number> {
  let scheduled = 0;
  for (const tenant of await tenants.list()) {
    if (tenant.status === 'deleting' || tenant.status === 'provisioning') continue;
    try {
      scheduled += await webhooks.deliveries.reschedulePending(tenant.id);
    } catch (error) {
      log.warn({ err: error, tenantId: tenant.id }, 'webhook deliveries not rescheduled');
    }
  }
  return scheduled;
}

/**
 * Starts `count` dispatchers sharing one HTTP client, once the feed has joined its group.
 * The due index is rebuilt from the tenants' databases in the background at start and every
 * ten minutes, so retries due before a restart (or a Redis that lost its data) are sent.
 */
export async function startWebhookWorkers(
  options: WebhookWorkersOptions,
): Promise<RunningWebhookWorkers> {
  const { webhooks, tenants, feed, log } = options;
  await feed.start?.();
  const sender = new WebhookSender({
    guard: webhooks.guard,
    timeoutMs: webhooks.settings.timeoutMs,
    userAgent: 'llm-backend-webhooks/1',
  });
  const attempts = new DeliveryAttempts({
    tenants,
    due: webhooks.due,
    retryBaseMs: webhooks.settings.retryBaseMs,
    onAttempt: options.onAttempt,
  });
  const dispatchers = Array.from(
    { length: options.count },
    (_, index) =>
      new WebhookDispatcher({
        feed,
        due: webhooks.due,
        deliveries: webhooks.deliveries,
        attempts,
        webhooks: webhooks.endpoints,
        sender,
        consumer: consumerName(index),
        log,
        // Past the attempt's own timeout, so a live dispatcher's delivery is never taken over.
        leaseMs: webhooks.settings.timeoutMs * 2 + 30_000,
        pollMs: options.pollMs,
      }),
  );
  for (const dispatcher of dispatchers) dispatcher.start();
  const operator = options.operator;
  await operator?.feed.start?.();
  const relay = operator
    ? new OperatorRelay({
        webhook: operator.webhook,
        feed: operator.feed,
        sender,
        consumer: consumerName(0),
        log,
      })
    : null;
  relay?.start();
  const resync = () =>
    rebuildDueIndex(webhooks, tenants, log).catch((error: unknown) =>
      log.warn({ err: error }, 'webhook due index not rebuilt'),
    );
  const rebuilding = resync();
  const timer = setInterval(resync, RESYNC_MS);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await rebuilding;
      const stopped = Promise.all([
        ...dispatchers.map((dispatcher) => dispatcher.stop()),
        relay?.stop(),
      ]);
      // Closing the feed ends a read waiting on it, so stopping need not wait that out.
      await feed.close();
      await operator?.feed.close();
      await stopped;
      await sender.close();
    },
  };
}
