import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/load.js';
import type { Metrics } from '../observability/metrics/catalogue.js';
import { AlertMonitor } from '../services/alerts/alert-monitor.js';
import type { BatchService } from '../services/batches/batch-service.js';
import { Idempotency } from '../services/cache/idempotency.js';
import { ResponseCache } from '../services/cache/response-cache.js';
import { SemanticCache } from '../services/cache/semantic-cache.js';
import { SemanticCaching } from '../services/cache/semantic-caching.js';
import { CacheSettingsCache, TenantMemo } from '../services/cache/settings-cache.js';
import { Deduplicator, type Inference } from '../services/dedup/deduplicator.js';
import type { FileService } from '../services/files/file-service.js';
import { type Authenticator, CachingAuthenticator } from '../services/keys/authenticator.js';
import { FailureThrottle } from '../services/keys/failure-throttle.js';
import type { RateLimiter } from '../services/limits/limiter.js';
import { OidcLogin } from '../services/oidc/oidc-login.js';
import { UserPrincipals } from '../services/oidc/user-principal.js';
import { ConversationStateCache } from '../services/responses/state-cache.js';
import { ResponseStore } from '../services/responses/store.js';
import { AuditedSessions } from '../services/sessions/session-audit.js';
import { SessionService } from '../services/sessions/session-service.js';
import type { Tracing } from '../services/tracing/span.js';
import { UsageCommitter } from '../services/usage/usage-commit.js';
import type { ControlSchema } from '../storage/control-schema.js';
import type { Backends } from './backends.js';
import { buildBatchService, buildFiles } from './batches.js';
import { buildLimiter } from './limiter.js';
import { buildRouting, type Routing } from './routing.js';
import type { Services } from './services.js';
import { buildTracing } from './tracing.js';

const DAY_MS = 86_400_000;

/** What only the HTTP gateway needs on top of the services: the request path's objects. */
export interface Gateway {
  routing: Routing;
  /** The inference routes' upstream calls: through deduplication unless DEDUP is off. */
  inference: Inference;
  authenticator: Authenticator;
  /** The admin panel's sign-in sessions, each checked against its key on every use. */
  sessions: SessionService;
  /** Single sign-on to the admin panel; null when no tenant has it configured. */
  oidc: OidcLogin | null;
  limiter: RateLimiter;
  alerts: AlertMonitor;
  /** Each tenant's exact response cache, on the request path. */
  cache: ResponseCache;
  idempotency: Idempotency;
  /** Each tenant's semantic cache, for the requests that opt in. */
  semantic: SemanticCaching;
  /** Makes each answer's usage event durable before the answer's last byte leaves. */
  usage: UsageCommitter;
  /** Stored Responses API responses, in each tenant's database. */
  responses: ResponseStore;
  /** Files API files, in each tenant's database. */
  files: FileService;
  /** Batch API batches, in each tenant's database; their lines run in the workers. */
  batches: BatchService;
  /** Spans per request (OpenTelemetry) when OTEL_TRACES_EXPORTER=otlp; a no-op otherwise. */
  tracing: Tracing;
  /** Gives back what this instance holds in the ledger, stops the health checks and providers. */
  close(): Promise<void>;
}

export interface GatewayDeps {
  config: AppConfig;
  services: Services;
  backends: Backends;
  /** This process's name in the ledger. */
  holder: string;
  instruments: Metrics;
  log: Logger;
  /** Spans go here instead of the OTLP exporter (tests). */
  spanExporter?: SpanExporter;
  /** The control plane, where platform keys' sign-ins are audited. */
  control: Kysely<ControlSchema>;
  /** What sessions take for now (their idle and absolute ends); tests move it. */
  clock?: () => Date;
}

export async function buildGateway({
  config,
  services,
  backends,
  holder,
  instruments,
  log,
  spanExporter,
  clock,
  control,
}: GatewayDeps): Promise<Gateway> {
  const { env } = config;
  const providerKeys = services.providerKeys;
  const routing = await buildRouting(config, instruments.routing, log, (tenantId, providerId) =>
    providerKeys.keyFor(tenantId, providerId),
  );
  const authenticator = new CachingAuthenticator(services.keys, services.bus, {
    usage: services.keyUsage,
    throttle: new FailureThrottle(env.authFailuresPerMinute),
    // The metrics' tenant labels are slugs, learnt as keys resolve, not per request.
    onResolved: (principal) => {
      if (principal.kind === 'tenant')
        instruments.tenants.learn(principal.tenantId, principal.tenantSlug);
    },
  });
  const { limiter, admissions } = buildLimiter({
    config,
    services,
    backends,
    holder,
    instruments,
    log,
  });
  const { cache, idempotency, semantic, databases } = buildCaching(
    { config, services, backends, instruments, log },
    routing,
  );
  const alerts = new AlertMonitor({
    config: config.alerts,
    gate: services.alertGate,
    onEvent: (type, tenantId, data) => services.publisher.publish(type, tenantId, data),
    onError: (error) => log.warn({ err: error }, 'alert gate failed'),
  });
  const usage = new UsageCommitter({
    publisher: services.usagePublisher,
    provisional: services.usageProgress,
    timeoutMs: env.usageCommitTimeoutMs,
    progressMs: env.usageProgressMs,
    log,
    onWait: instruments.pipeline.commitWait,
  });
  const tracing = buildTracing(config.tracing, log, spanExporter);
  const sessions = new SessionService({
    store: backends.sessions,
    keys: authenticator,
    keyIndex: services.keys,
    users: new UserPrincipals(services.tenants),
    bus: services.bus,
    audit: new AuditedSessions({ tenants: services.tenants, control }),
    idleSeconds: env.adminPanel.sessionIdleSeconds,
    maxAgeSeconds: env.adminPanel.sessionMaxAgeSeconds,
    now: clock === undefined ? undefined : () => clock().getTime(),
    onError: (error) => log.warn({ err: error }, 'admin panel sessions not checked'),
  });
  const database = (tenantId: string) => databases.get(tenantId);
  const files = buildFiles(config, database);
  return {
    routing,
    inference: buildInference(config, routing, backends, instruments, log),
    authenticator,
    sessions,
    oidc:
      config.oidc.length === 0
        ? null
        : new OidcLogin({
            providers: config.oidc,
            tenants: services.tenants,
            users: services.users,
            sessions,
            pending: backends.sessions,
            onFailure: (error) => log.warn({ err: error }, 'single sign-on failed'),
          }),
    limiter,
    alerts,
    cache,
    idempotency,
    semantic,
    usage,
    responses: new ResponseStore({
      database: (tenantId) => databases.get(tenantId),
      retentionMs: env.responsesRetentionDays === 0 ? null : env.responsesRetentionDays * DAY_MS,
      cache: conversations(config, backends, instruments, log),
    }),
    files,
    batches: buildBatchService(config, backends, files, database),
    tracing,
    close: async () => {
      await admissions.close();
      await routing.close();
      // Last: the spans of requests that ended during shutdown are exported too.
      await tracing.close();
    },
  };
}

/**
 * The response cache and Idempotency-Key over the backends' stores, with their metric, and
 * the semantic cache over the tenants' databases, one per process; the tenants' database
 * handles, which stored responses use too.
 */
function buildCaching(
  { config, services, backends, instruments, log }: Omit<GatewayDeps, 'holder' | 'control'>,
  routing: Routing,
) {
  const outcome = (tenantId: string, cache: string, outcome: string) =>
    instruments.inference.cache(instruments.tenants.of(tenantId), cache, outcome);
  const settings = new CacheSettingsCache(
    (tenantId) => services.cacheSettings.get(tenantId),
    services.bus,
  );
  const timeoutMs = config.env.redisTimeoutMs;
  const onError = (error: unknown) => log.warn({ err: error }, 'response cache store failed');
  const cache = new ResponseCache({
    store: backends.responses,
    settings: (tenantId) => settings.get(tenantId),
    config: config.cache,
    timeoutMs,
    onOutcome: (result, tenantId) => outcome(tenantId, 'exact', result),
    onError,
  });
  const idempotency = new Idempotency({ store: backends.idempotency, timeoutMs, onError });
  // Where the tenant's database lives, like its settings, is looked up once, not per request,
  // and forgotten when the tenant moves (the bus). The handle itself is asked of the pools on
  // each use: a cached one could be a pool the cap closed since.
  const placements = new TenantMemo((tenantId) => services.tenants.get(tenantId), services.bus);
  const databases = {
    get: async (tenantId: string) => services.tenants.database(await placements.get(tenantId)),
  };
  const semantic = new SemanticCaching({
    cache: new SemanticCache({
      inference: routing.inference,
      catalog: routing.catalog,
      database: (tenantId) => databases.get(tenantId),
    }),
    settings: (tenantId) => settings.get(tenantId),
    config: config.cache,
    onError: (error) => log.warn({ err: error }, 'semantic cache store failed'),
    onOutcome: (result, tenantId) => outcome(tenantId, 'semantic', result),
  });
  return { cache, idempotency, semantic, databases };
}

/** The conversation cache of stored responses, unless RESPONSES_CACHE_TTL_SECONDS is 0. */
function conversations(
  config: AppConfig,
  backends: Backends,
  instruments: Metrics,
  log: Logger,
): ConversationStateCache | undefined {
  const { responsesCacheTtlSeconds, redisTimeoutMs } = config.env;
  if (responsesCacheTtlSeconds === 0) return undefined;
  return new ConversationStateCache({
    store: backends.conversations,
    ttlMs: responsesCacheTtlSeconds * 1000,
    timeoutMs: redisTimeoutMs,
    onLookup: (tenantId, outcome) =>
      instruments.inference.conversationState(instruments.tenants.of(tenantId), outcome),
    onError: (error) => log.warn({ err: error }, 'conversation cache call failed'),
  });
}

/** Identical requests in flight share one upstream call, across instances with Redis. */
function buildInference(
  config: AppConfig,
  routing: Routing,
  backends: Backends,
  instruments: Metrics,
  log: Logger,
): Inference {
  const { dedup, redisTimeoutMs } = config.env;
  if (!dedup.enabled) return routing.inference;
  return new Deduplicator({
    upstream: routing.inference,
    exchange: backends.dedup,
    settings: {
      nondeterministic: dedup.nondeterministic,
      leaseMs: dedup.leaseMs,
      waitMs: dedup.waitMs,
      claimTimeoutMs: redisTimeoutMs,
    },
    models: config.models,
    metrics: {
      leader: () => instruments.routing.dedup('leaders'),
      follower: () => instruments.routing.dedup('followers'),
      takeover: () => instruments.routing.dedup('takeovers'),
    },
    onError: (error, message) => log.warn({ err: error }, message),
  });
}
