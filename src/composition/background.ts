import type { Logger } from 'pino';
import type { AppConfig } from '../config/load.js';
import type { Metrics } from '../observability/metrics/catalogue.js';
import { PeriodCloser } from '../services/billing/period-closer.js';
import { startLogShipping } from '../services/logs/log-shipping.js';
import { LOG_SINK_GROUP } from '../services/logs/log-sink.js';
import { TenantReaper } from '../services/tenancy/tenant-reaper.js';
import { ProvisionalSweeper } from '../services/usage/provisional-sweeper.js';
import { type RunningWorkers, startUsageWorkers } from '../services/usage/usage-workers.js';
import { OPERATOR_GROUP } from '../services/webhooks/operator-relay.js';
import {
  type RunningWebhookWorkers,
  startWebhookWorkers,
  WEBHOOK_GROUP,
} from '../services/webhooks/webhook-workers.js';
import type { Storage } from '../storage/open.js';
import type { RedisConnections } from '../storage/redis.js';
import type { Backends } from './backends.js';
import { startBatches } from './batches.js';
import type { Gateway } from './gateway.js';
import type { Services } from './services.js';

/**
 * What a process is for. `serve` builds the request path on top of the services and runs
 * the gateway's background work; `worker` runs the usage writers, webhook dispatchers and log
 * shipping; `cli` builds the services for one command and runs nothing in the background.
 */
export type Role = 'serve' | 'worker' | 'cli';

/** What the background work uses of the composed process (the Root, which starts it). */
export interface BackgroundHost {
  readonly config: AppConfig;
  readonly role: Role;
  readonly log: Logger;
  readonly storage: Storage;
  /** Null without REDIS_URL. */
  readonly redis: RedisConnections | null;
  readonly backends: Backends;
  readonly services: Services;
  /** The metrics the background work records (webhook deliveries). */
  readonly instruments: Metrics;
  /** The request path's objects when this process serves (batch lines reuse its providers). */
  readonly gateway: Gateway | null;
}

export interface Background {
  stop(): Promise<void>;
}

/** How often the worker looks for an ended billing period to finalize. */
const PERIOD_CLOSE_INTERVAL_MS = 5 * 60_000;

/** What a role runs besides answering requests: how many of each, or whether at all. */
interface Plan {
  usageWorkers: number;
  webhookWorkers: number;
  logShipping: boolean;
  reaper: boolean;
  /** Runs Batch API lines: in workers, and in the one process of the embedded default. */
  batches: boolean;
}

function planOf({ role, config, backends }: BackgroundHost): Plan {
  const { env } = config;
  if (role === 'worker')
    return {
      // A worker process exists to write usage: at least one writer.
      usageWorkers: Math.max(1, env.usageWorkers),
      webhookWorkers: env.webhookWorkers,
      logShipping: true,
      reaper: false,
      batches: true,
    };
  if (role === 'serve')
    return {
      usageWorkers: env.usageWorkers,
      webhookWorkers: env.webhookWorkers,
      // Only where the gateway also writes usage: `llm-backend worker` ships otherwise.
      logShipping: env.usageWorkers > 0,
      reaper: true,
      // Without Redis no worker can reach the queue: this process runs the lines itself.
      batches: backends.kind === 'memory',
    };
  return { usageWorkers: 0, webhookWorkers: 0, logShipping: false, reaper: false, batches: false };
}

/**
 * Starts the role's background work. Run after the tenant migrations: the dispatchers
 * rebuild their due index from the webhook tables.
 */
export async function startBackground(root: BackgroundHost): Promise<Background> {
  const { config, services, storage, backends, log } = root;
  const { env } = config;
  const plan = planOf(root);
  if (plan.usageWorkers > 0) {
    const warning = await services.usageQueue.durabilityWarning().catch(() => null);
    if (warning !== null) log.warn(warning);
  }
  const reaper = plan.reaper
    ? new TenantReaper({
        tenants: services.tenants,
        control: storage.control,
        shared: storage.server.kind === 'postgres',
        log,
      })
    : null;
  const usage: RunningWorkers | null =
    plan.usageWorkers > 0
      ? startUsageWorkers({
          queue: services.usageQueue,
          records: services.usageRecords,
          count: plan.usageWorkers,
          log,
        })
      : null;
  let webhooks: RunningWebhookWorkers | null = null;
  if (plan.webhookWorkers > 0)
    webhooks = await startWebhookWorkers({
      webhooks: services.webhooks,
      tenants: services.tenants,
      feed: backends.eventFeed(WEBHOOK_GROUP, 30_000),
      count: plan.webhookWorkers,
      log,
      onAttempt: root.instruments.pipeline.delivery,
      operator:
        env.operatorWebhook === null
          ? null
          : {
              webhook: env.operatorWebhook,
              // The wait between two attempts of one event: the claim time of its group.
              feed: backends.eventFeed(OPERATOR_GROUP, Math.max(1000, env.webhookRetryBaseMs)),
            },
    });
  const shipping =
    plan.logShipping && root.redis !== null && env.logStream !== null && services.logStream
      ? startLogShipping({
          redis: root.redis.command,
          stream: env.logStream,
          sinkUrl: env.logSinkUrl,
          sinkFeed:
            env.logSinkUrl === null ? null : backends.eventFeed(LOG_SINK_GROUP, 30_000, 'logs'),
          logs: services.logStream,
          tenants: services.tenants,
          control: storage.control,
          log,
        })
      : null;
  // Where usage is written, the usage of streams whose gateway died is too.
  const sweeper =
    plan.usageWorkers > 0
      ? new ProvisionalSweeper({
          provisional: services.usageProgress,
          queue: services.usageQueue,
          progressMs: env.usageProgressMs,
          log,
        })
      : null;
  // Where usage is written, the invoices of the period that ended are finalized too.
  const closer =
    plan.usageWorkers > 0
      ? new PeriodCloser({
          tenants: services.tenants,
          invoices: services.invoices,
          log,
          intervalMs: PERIOD_CLOSE_INTERVAL_MS,
        })
      : null;
  const batches = plan.batches ? await startBatches(root) : null;
  reaper?.start();
  sweeper?.start();
  closer?.start();
  return {
    async stop() {
      await batches?.stop();
      await reaper?.stop();
      await sweeper?.stop();
      await closer?.stop();
      // The in-process queue's entries would not outlive the process: written out first.
      await usage?.stop({ drain: backends.kind === 'memory' });
      await webhooks?.stop();
      await shipping?.stop();
    },
  };
}
