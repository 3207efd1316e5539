import type { Kysely } from 'kysely';
import type { AppConfig } from '../config/load.js';
import { GatewayError } from '../errors/gateway-error.js';
import { BatchRunner, finalizeBatch } from '../services/batches/batch-runner.js';
import { BatchService } from '../services/batches/batch-service.js';
import { BatchSweeper } from '../services/batches/batch-sweeper.js';
import { TenantMemo } from '../services/cache/settings-cache.js';
import { FileService } from '../services/files/file-service.js';
import { callModel } from '../services/inference/direct-call.js';
import type { RateLimiter } from '../services/limits/limiter.js';
import { consumerName } from '../services/usage/usage-workers.js';
import { BatchesRepository } from '../storage/repositories/batches.js';
import type { TenantSchema } from '../storage/tenant-schema.js';
import type { Backends } from './backends.js';
import { buildLimiter, type LimiterDeps } from './limiter.js';
import { buildRouting, type Routing } from './routing.js';
import type { Services } from './services.js';

/** How often a runner looks for batches no queued line would finish. */
const SWEEP_INTERVAL_MS = 60_000;
/** The first wait before a batch line is retried. */
const LINE_RETRY_BASE_MS = 1000;

type Database = (tenantId: string) => Promise<Kysely<TenantSchema>>;

/** Each tenant's Files, as the gateway's routes and the batch runners share them. */
export function buildFiles(config: AppConfig, database: Database): FileService {
  return new FileService({
    database,
    maxFileBytes: config.env.filesMaxBytes,
    tenantQuotaBytes: config.env.filesTenantQuotaBytes,
  });
}

/** The Batch API's requests: create, read, cancel; the lines go to the batch queue. */
export function buildBatchService(
  config: AppConfig,
  backends: Backends,
  files: FileService,
  database: Database,
): BatchService {
  return new BatchService({
    database,
    files,
    queue: backends.batchQueue,
    windowMs: config.env.batchCompletionWindowMs,
    maxLineBytes: config.env.bodyLimitBytes,
    finalize: async (tenantId, batchId) =>
      finalizeBatch(
        files,
        new BatchesRepository(await database(tenantId)),
        tenantId,
        batchId,
        new Date(),
      ),
  });
}

/** What the batch runner takes of the composed process (the background's host). */
export interface BatchHost extends Omit<LimiterDeps, 'holder'> {
  /** The serving process's providers and limiter, reused; null in a worker. */
  gateway: { routing: Routing; limiter: RateLimiter } | null;
}

export interface RunningBatches {
  stop(): Promise<void>;
}

/**
 * The batch runner of a worker (or of the one process without Redis): the providers and the
 * limiter, built as the gateway builds them but without any HTTP, then a runner on the batch
 * queue and a sweeper for batches no queued line would finish.
 */
export async function startBatches(host: BatchHost): Promise<RunningBatches> {
  const { config, services, backends, log } = host;
  const { env } = config;
  const holder = consumerName(0);
  const { routing, limiter, close } = await upstreamOf(host, holder);
  const tenants = tenantLookup(services);
  const database: Database = async (tenantId) =>
    await services.tenants.database(await services.tenants.get(tenantId));
  const files = buildFiles(config, database);
  const now = () => new Date();
  const runner = new BatchRunner({
    queue: backends.batchQueue,
    tenant: (tenantId) => tenants.get(tenantId),
    files,
    call: (call) =>
      callModel(
        {
          inference: routing.inference,
          resolver: routing.resolver,
          limiter,
          defaultCompletionTokens: env.rateLimitDefaultCompletionTokens,
        },
        call,
      ),
    writeUsage: (tenantId, events) => services.usageRecords.write(tenantId, events),
    attempts: env.batchLineAttempts,
    retryBaseMs: LINE_RETRY_BASE_MS,
    concurrency: env.batchConcurrency,
    linesPerSecond: env.batchLinesPerSecond,
    consumer: holder,
    claimIdleMs: env.batchClaimIdleMs,
    log,
    now,
  });
  const sweeper = new BatchSweeper({
    tenantIds: async () => (await services.tenants.list()).map((tenant) => tenant.id),
    tenant: (tenantId) => tenants.get(tenantId),
    files,
    queue: backends.batchQueue,
    staleMs: env.batchClaimIdleMs,
    intervalMs: SWEEP_INTERVAL_MS,
    now,
    log,
  });
  await sweeper.start();
  runner.start();
  return {
    async stop() {
      await sweeper.stop();
      await runner.stop();
      await close();
    },
  };
}

/** The serving process's providers and limiter, or a worker's own, built without HTTP. */
async function upstreamOf(host: BatchHost, holder: string) {
  if (host.gateway !== null)
    return { routing: host.gateway.routing, limiter: host.gateway.limiter, close: async () => {} };
  const { config, services, log, instruments } = host;
  const routing = await buildRouting(config, instruments.routing, log, (tenantId, providerId) =>
    services.providerKeys.keyFor(tenantId, providerId),
  );
  const { limiter, admissions } = buildLimiter({ ...host, holder });
  routing.start();
  return {
    routing,
    limiter,
    close: async () => {
      await admissions.close();
      await routing.close();
    },
  };
}

/** A tenant's database and slug, looked up once a minute; null once it is gone. */
function tenantLookup(services: Services) {
  return new TenantMemo(async (tenantId) => {
    try {
      const tenant = await services.tenants.get(tenantId);
      return { slug: tenant.slug, db: services.tenants.database(tenant) };
    } catch (error) {
      // Only a tenant that is gone drops its lines; any other failure leaves them to retry.
      if (error instanceof GatewayError && error.status === 404) return null;
      throw error;
    }
  }, services.bus);
}
