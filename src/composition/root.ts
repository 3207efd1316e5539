import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { DestinationStream } from 'pino';
import { Registry } from 'prom-client';
import type { AppConfig } from '../config/load.js';
import { createMetrics } from '../observability/metrics/catalogue.js';
import { EventPublisher } from '../services/events/publisher.js';
import { consumerName } from '../services/usage/usage-workers.js';
import { openStorage, type Storage } from '../storage/open.js';
import { openRedis } from '../storage/redis.js';
import { type BackendOverrides, memoryBackends, redisBackends } from './backends.js';
import { type Background, type BackgroundHost, type Role, startBackground } from './background.js';
import { buildGateway, type Gateway } from './gateway.js';
import { buildLogger } from './logger.js';
import { watchStorage } from './metrics.js';
import { buildServices, closeServices } from './services.js';

export type { Role };

export interface ComposeOptions {
  role: Role;
  /** Where log lines go (stdout by default); tests read them from here. */
  logDestination?: DestinationStream;
  /** An opened storage to use instead of opening DATABASE_URL; closed by the root. */
  storage?: Storage;
  /** Capabilities to use instead of the ones the configuration chooses. */
  backends?: BackendOverrides;
  /** Where spans go instead of the OTLP exporter, tracing on whatever the config says. */
  spanExporter?: SpanExporter;
  /**
   * The clock billing (which periods are over, effective times) and the admin panel's sessions
   * (idle and absolute ends) read; tests set it.
   */
  clock?: () => Date;
}

export interface Root extends BackgroundHost {
  /** Every metric of the process is registered here; one registry per root. */
  readonly metrics: Registry;
  /** The request path's objects; null unless the role is `serve`. */
  readonly gateway: Gateway | null;
  /** Starts what this role runs in the background; stopped by close(). */
  startBackground(): Promise<Background>;
  /** Stops the background, writes out what is queued, then closes every connection. */
  close(): Promise<void>;
}

/**
 * The one place that builds the process: configuration in, every object out. `serve`,
 * `worker`, every CLI command and the tests call it; nothing else opens Redis or the
 * databases, or chooses between the in-process and the Redis implementations.
 */
export async function compose(config: AppConfig, options: ComposeOptions): Promise<Root> {
  const { env } = config;
  const log = buildLogger(env, options.logDestination);
  const storage =
    options.storage ??
    (await openStorage(env, {
      databaseServers: config.databaseServers,
      onIdleError: (error) => log.warn({ err: error }, 'idle database connection failed'),
    }));
  const metrics = new Registry();
  const instruments = createMetrics(metrics, {
    tenantLabels: env.metricsTenantLabels,
    role: options.role,
  });
  const redis =
    env.redisUrl === null
      ? null
      : openRedis(env.redisUrl, {
          tls: { ca: env.redisTlsCa },
          observer: {
            command: instruments.system.redisCommand,
            error: instruments.system.redisError,
          },
        });
  // This process's name wherever instances meet: the ledger's holds, the instance count.
  const holder = consumerName(0);
  const backends =
    redis === null
      ? memoryBackends(env, options.backends)
      : redisBackends(redis, { ...env, holder }, options.backends);
  const publisher = new EventPublisher({ log: backends.events, logger: log });
  const services = buildServices({
    config,
    storage,
    backends,
    publisher,
    log,
    clock: options.clock,
  });
  publisher.countWith(instruments.pipeline.event);
  const unobserve = watchStorage(instruments, storage, { services, backends });
  let gateway: Gateway | null = null;
  try {
    if (options.role === 'serve')
      gateway = await buildGateway({
        config,
        services,
        backends,
        holder,
        instruments,
        log,
        spanExporter: options.spanExporter,
        clock: options.clock,
        control: storage.control,
      });
  } catch (error) {
    await closeConnections();
    throw error;
  }
  let background: Background | null = null;

  async function closeConnections(): Promise<void> {
    unobserve();
    await publisher.drain();
    await backends.close();
    await redis?.close();
    await storage.close();
  }

  const root: Root = {
    config,
    role: options.role,
    log,
    metrics,
    instruments,
    storage,
    redis,
    backends,
    services,
    gateway,
    async startBackground() {
      background ??= await startBackground(root);
      return background;
    },
    async close() {
      // Requests are over: their usage goes to the queue first, and the in-process queue is
      // written out by the stopping workers before the databases close.
      await services.usagePublisher.close();
      await background?.stop();
      await gateway?.close();
      await closeServices(services);
      await closeConnections();
    },
  };
  return root;
}
