import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { buildApp } from './app.js';
import type { AppConfig } from './config/load.js';
import { loadEncoder } from './services/inference/estimate.js';
import { shipperOf } from './services/logs/log-shipping.js';
import {
  bootstrapDefaultTenant,
  buildServices,
  closeServices,
  type Services,
} from './services/services.js';
import { TenantReaper } from './services/tenancy/tenant-reaper.js';
import { startUsageWorkers } from './services/usage/usage-workers.js';
import {
  openEventFeed,
  operatorOf,
  type RunningWebhookWorkers,
  startWebhookWorkers,
} from './services/webhooks/webhook-workers.js';
import { openStorage } from './storage/open.js';

export interface StartOptions {
  logger?: FastifyServerOptions['logger'];
}

/** Secrets made on the first start, to show once; null when not made now. */
export interface FirstStart {
  /** Null as well when BOOTSTRAP_ADMIN_KEY named it: the operator has it already. */
  platformAdminKey: string | null;
  /** The embedded default's `default` tenant owner key, so the quickstart can call /v1. */
  defaultTenantKey: string | null;
}

export interface Started {
  app: FastifyInstance;
  firstStart: FirstStart;
}

async function firstStart(config: AppConfig, services: Services): Promise<FirstStart> {
  const given = config.env.bootstrapAdminKey;
  const admin = await services.platformKeys.bootstrap(given ?? undefined);
  if (admin === null) return { platformAdminKey: null, defaultTenantKey: null };
  const embedded = config.env.databaseUrl === null;
  return {
    platformAdminKey: given === null ? admin.secret : null,
    defaultTenantKey: embedded ? await bootstrapDefaultTenant(services) : null,
  };
}

/** Opens storage, builds the app and listens on the configured host and port. */
export async function startServer(config: AppConfig, options: StartOptions = {}): Promise<Started> {
  const storage = await openStorage(config.env, { databaseServers: config.databaseServers });
  try {
    const services = buildServices(config.env, storage, config.providers);
    const app = await buildApp({
      config,
      logger: options.logger,
      services,
    });
    // Purges deleted tenants past their grace period; started once listening.
    const reaper = new TenantReaper({
      tenants: services.tenants,
      control: storage.control,
      shared: storage.server.kind === 'postgres',
      log: app.log,
    });
    const workers =
      config.env.usageWorkers > 0
        ? startUsageWorkers({
            queue: services.usageQueue,
            records: services.usageRecords,
            count: config.env.usageWorkers,
            log: app.log,
          })
        : null;
    let webhookWorkers: RunningWebhookWorkers | null = null;
    // Only where this process also runs the usage writers: `llm-backend worker` otherwise.
    const shipping =
      config.env.usageWorkers > 0
        ? (shipperOf(config.env, services, storage)?.(app.log) ?? null)
        : null;
    app.addHook('onClose', async () => {
      await reaper.stop();
      // In-flight requests are done: their usage goes to the queue, and an in-process
      // queue is written out before the databases close.
      await services.usagePublisher.close();
      await workers?.stop({ drain: config.env.redisUrl === null });
      await webhookWorkers?.stop();
      await shipping?.stop();
      await closeServices(services);
      await storage.close();
    });
    const warning = await services.usageQueue.durabilityWarning().catch(() => null);
    if (warning !== null) app.log.warn(warning);
    // An upgrade may bring tenant migrations: every tenant database is brought up to date
    // before the first request can need the new schema. Instances starting together take
    // turns on each database's migration lock.
    await services.tenants.migrateAll((done, total, tenant, applied) => {
      if (applied.length > 0) app.log.info({ tenantId: tenant.id, applied }, 'tenant migrated');
      if (done === total || done % 100 === 0) app.log.info({ done, total }, 'tenant migrations');
    });
    // After the migrations: the dispatchers rebuild their due index from the webhook tables.
    if (config.env.webhookWorkers > 0)
      webhookWorkers = await startWebhookWorkers({
        webhooks: services.webhooks,
        tenants: services.tenants,
        feed: openEventFeed(services.events, config.env.redisUrl),
        count: config.env.webhookWorkers,
        log: app.log,
        operator: operatorOf(config.env, services),
      });
    const shown = await firstStart(config, services);
    // Upstreams that report no usage need the tokenizer; load it now rather than on a request.
    if (config.providers.some((provider) => provider.type !== 'mock')) await loadEncoder();
    await app.listen({ host: config.env.host, port: config.env.port });
    reaper.start();
    return { app, firstStart: shown };
  } catch (error) {
    await storage.close().catch(() => {});
    throw error;
  }
}

/**
 * Stops accepting connections, lets in-flight requests and streams finish, and after the
 * grace period cuts what is left (which aborts those upstream calls).
 */
export async function closeGracefully(app: FastifyInstance, graceMs: number): Promise<void> {
  const deadline = setTimeout(() => {
    app.log.warn({ graceMs }, 'shutdown grace period over; closing open connections');
    app.server.closeAllConnections();
  }, graceMs);
  deadline.unref();
  // server.close() reaps idle keep-alive connections only once; a connection whose response
  // ends during the drain would otherwise stay open, and hold the close, until its timeout.
  const reaper = setInterval(() => app.server.closeIdleConnections(), 100);
  reaper.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(deadline);
    clearInterval(reaper);
  }
}
