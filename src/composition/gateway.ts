import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/load.js';
import type { Metrics } from '../observability/metrics/catalogue.js';
import { AlertMonitor } from '../services/alerts/alert-monitor.js';
import { Idempotency } from '../services/cache/idempotency.js';
import { ResponseCache } from '../services/cache/response-cache.js';
import { SemanticCache } from '../services/cache/semantic-cache.js';
import { SemanticCaching } from '../services/cache/semantic-caching.js';
import { CacheSettingsCache, TenantMemo } from '../services/cache/settings-cache.js';
import { Deduplicator, type Inference } from '../services/dedup/deduplicator.js';
import { FileService } from '../services/files/file-service.js';
import { type Authenticator, CachingAuthenticator } from '../services/keys/authenticator.js';
import { FailureThrottle } from '../services/keys/failure-throttle.js';
import { Admissions } from '../services/limits/admission.js';
import { RateLimiter } from '../services/limits/limiter.js';
import { LimitsCache } from '../services/limits/limits-cache.js';
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
import { buildRouting, type Routing } from './routing.js';
import type { Services } from './services.js';
import { buildTracing } from './tracing.js';

const DAY_MS = 86_400_000;
/** How long a window lease hands out units: what it did not is back a moment later. */
const LEASE_MS = 1000;
/**
 * How long a concurrent or quota hold lives unless renewed (at a third of it): the longest
 * the slots of an instance that died stay taken.
 */
const HOLD_MS = 15_000;
/** How long idle capacity stays with this instance for its next requests before it goes back. */
const IDLE_MS = 250;

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
  const { tenants } = instruments;
  const limits = new LimitsCache(
    { rules: services.limitRules, quotas: services.quotas, plans: services.billing },
    services.bus,
  );
  let limiter: RateLimiter | null = null;
  const admissions = new Admissions({
    ledger: backends.ledger,
    holder,
    instances: () => backends.instances.count(),
    leaseMs: LEASE_MS,
    holdMs: HOLD_MS,
    idleMs: IDLE_MS,
    timeoutMs: env.redisTimeoutMs,
    onError: (error) => log.warn({ err: error }, 'rate limit ledger call failed'),
    onCrossing: (spec, crossing) => limiter?.crossed(spec, crossing),
    // Announced like cache invalidations: to every instance, this one included.
    reclaim: {
      publish: (key) => services.bus.publish({ reclaim: key }),
      subscribe: (listener) =>
        services.bus.subscribe((message) => {
          if ('reclaim' in message) listener(message.reclaim);
        }),
    },
  });
  limiter = new RateLimiter({
    admissions,
    limits: (tenantId) => limits.get(tenantId),
    usedIn: (tenantId, quota, window) => services.usageRecords.usedIn(tenantId, quota, window),
    publisher: services.publisher,
    failureMode: env.rateLimitFailureMode,
    onRefused: (tenantId, kind) => instruments.limits.refused(tenants.of(tenantId), kind),
    onUse: (tenantId, uses) => instruments.limits.used(tenants.of(tenantId), uses),
    onUnchecked: (error) => {
      instruments.limits.storeError();
      log.warn({ err: error, failureMode: env.rateLimitFailureMode }, 'rate limits not checked');
    },
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
    files: new FileService({
      database: (tenantId) => databases.get(tenantId),
      maxFileBytes: env.filesMaxBytes,
      tenantQuotaBytes: env.filesTenantQuotaBytes,
    }),
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
