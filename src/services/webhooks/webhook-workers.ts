import type { EnvConfig } from '../../config/env.js';
import { connectRedis } from '../../storage/redis-client.js';
import type { EventFeed } from '../events/event-feed.js';
import { RedisEventFeed } from '../events/event-feed.js';
import { EVENT_STREAM, type EventLog, MemoryEventLog } from '../events/event-log.js';
import { MemoryEventFeed } from '../events/memory-event-feed.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { consumerName } from '../usage/usage-workers.js';
import { DeliveryAttempts } from './delivery-attempts.js';
import { type DispatcherLog, WebhookDispatcher } from './dispatcher.js';
import { OPERATOR_GROUP, OperatorRelay, type OperatorWebhook } from './operator-relay.js';
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
}

export interface RunningWebhookWorkers {
  stop(): Promise<void>;
}

/**
 * The event log read by the `webhooks` group: the Redis Stream when there is Redis, the
 * in-process log's own feed otherwise.
 */
export function openEventFeed(
  events: EventLog,
  redisUrl: string | null,
  claimIdleMs = 30_000,
  group = WEBHOOK_GROUP,
): EventFeed {
  if (events instanceof MemoryEventLog) return new MemoryEventFeed(events, { claimIdleMs });
  if (redisUrl === null) throw new Error('a Redis event log needs REDIS_URL for its feed');
  return new RedisEventFeed({
    client: connectRedis(redisUrl),
    blocking: connectRedis(redisUrl),
    stream: EVENT_STREAM,
    group,
    claimIdleMs,
    ownsConnections: true,
  });
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

/** The operator webhook as configured, with its own group on the event log; null when unset. */
export function operatorOf(
  env: Pick<EnvConfig, 'operatorWebhook' | 'redisUrl' | 'webhookRetryBaseMs'>,
  services: { events: EventLog },
): { webhook: OperatorWebhook; feed: EventFeed } | null {
  if (env.operatorWebhook === null) return null;
  // The wait between two attempts of one event: the claim time of the operator group.
  const claimIdleMs = Math.max(1000, env.webhookRetryBaseMs);
  const feed = openEventFeed(services.events, env.redisUrl, claimIdleMs, OPERATOR_GROUP);
  return { webhook: env.operatorWebhook, feed };
}
