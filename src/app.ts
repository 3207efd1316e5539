import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import { Counter } from 'prom-client';
import type { AppConfig } from './config/load.js';
import { GatewayError } from './errors/gateway-error.js';
import { registerAlerts } from './plugins/alerts.js';
import { registerDocs } from './plugins/docs.js';
import { registerErrorHandling } from './plugins/errors.js';
import { registerHttpEdge } from './plugins/http-edge.js';
import { registerJsonBodyParser } from './plugins/json-body.js';
import { registerMetrics } from './plugins/metrics.js';
import { registerPipelineMetrics } from './plugins/pipeline-metrics.js';
import {
  completionRecord,
  registerRequestContext,
  requestIdFor,
} from './plugins/request-context.js';
import { buildRouting } from './plugins/routing.js';
import { registerUsageEvents } from './plugins/usage-events.js';
import { adminRoutes } from './routes/admin/index.js';
import { healthRoutes } from './routes/ops/health.js';
import { v1Routes } from './routes/v1/index.js';
import type { NewEvent } from './services/events/event-log.js';
import { CachingAuthenticator } from './services/keys/authenticator.js';
import { FailureThrottle } from './services/keys/failure-throttle.js';
import { RateLimiter } from './services/limits/limiter.js';
import { LimitsCache } from './services/limits/limits-cache.js';
import type { Services } from './services/services.js';

/**
 * The longest a concurrent-request slot is held without its request settling (say, an
 * instance died mid-stream): long enough for any stream, short enough to heal.
 */
const CONCURRENCY_LEASE_MS = 30 * 60_000;

/** Trusts the nearest `hops` proxies: their X-Forwarded-For entries name the client. */
const hopsOf = (hops: number) => (_address: string, hop: number) => hop < hops;

export interface BuildAppOptions {
  config: AppConfig;
  /** Tenants and keys: the API keys of the data plane and the admin API. */
  services: Services;
  /** Fastify's logger option; tests pass a stream to read the log lines. */
  logger?: FastifyServerOptions['logger'];
}

const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string };

/** Every header or field that may hold a credential; pino replaces them before writing. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'apiKey',
  '*.apiKey',
];

export function loggerOptions(config: AppConfig): FastifyServerOptions['logger'] {
  return { level: config.env.logLevel, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
}

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { config } = options;
  const app = Fastify({
    logger: options.logger ?? loggerOptions(config),
    bodyLimit: config.env.bodyLimitBytes,
    // The client's address (request.ip) from X-Forwarded-For, only through trusted proxies.
    trustProxy:
      typeof config.env.trustProxy === 'number'
        ? hopsOf(config.env.trustProxy)
        : config.env.trustProxy,
    requestIdHeader: false,
    return503OnClosing: false,
    genReqId: (request) => requestIdFor(request.headers['x-request-id']),
    // One richer line per request comes from the request-context plugin instead.
    logController: new LogController({
      requestIdLogLabel: 'requestId',
      disableRequestLogging: true,
    }),
    ajv: {
      // The body goes upstream as the client sent it: never coerce, strip or fill in fields.
      customOptions: {
        coerceTypes: false,
        removeAdditional: false,
        useDefaults: false,
        allErrors: true,
      },
    },
  });

  const authenticator = new CachingAuthenticator(options.services.keys, options.services.bus, {
    usage: options.services.keyUsage,
    throttle: new FailureThrottle(config.env.authFailuresPerMinute),
  });
  let accepting = true;
  app.addHook('preClose', async () => {
    accepting = false;
  });

  const requestContext = registerRequestContext(app);
  registerHttpEdge(app, config.env, authenticator);
  // Requests that still arrive on open keep-alive connections while draining get a 503 in
  // OpenAI's shape (Fastify's own 503 body is not), and the connection is closed after it.
  app.addHook('onRequest', async (request, reply) => {
    if (accepting || request.url.startsWith('/health/')) return;
    reply.header('connection', 'close');
    throw new GatewayError('service_unavailable');
  });
  registerErrorHandling(app);
  registerJsonBodyParser(app);
  const metrics = registerMetrics(app, requestContext);
  const { providerKeys } = options.services;
  const routing = await buildRouting(config, metrics, app.log, (tenantId, providerId) =>
    providerKeys.keyFor(tenantId, providerId),
  );
  routing.start();
  app.addHook('onClose', async () => routing.close());
  options.services.usagePublisher.attachLog(app.log);
  registerUsageEvents(requestContext, options.services.usagePublisher);
  const { events, usageRecords } = options.services;
  const pipeline = registerPipelineMetrics(metrics, {
    publisher: options.services.usagePublisher,
    queue: options.services.usageQueue,
  });
  // Quota and alert events: logged, counted, and appended for webhooks to deliver.
  const announce = (event: NewEvent) => {
    pipeline.event(event);
    app.log.warn({ event: event.type, tenantId: event.tenantId, ...event.data }, 'event');
    events.append(event).catch((error: unknown) => {
      app.log.error({ err: error, event }, 'event not recorded');
    });
  };
  const logStream = options.services.logStream;
  if (logStream !== null)
    requestContext.onFinished((finished) => {
      const { principal } = finished.request;
      logStream
        .append({
          type: 'request.completed',
          tenantId: principal?.kind === 'tenant' ? principal.tenantId : null,
          data: { requestId: finished.request.id, ...completionRecord(finished) },
        })
        .catch((error: unknown) => app.log.debug({ err: error }, 'request log not shipped'));
    });
  registerAlerts(app, requestContext, {
    config: config.alerts,
    gate: options.services.alertGate,
    onEvent: announce,
  });
  const storeErrors = new Counter({
    name: 'rate_limit_store_errors_total',
    help: 'Rate limit checks the store (Redis) could not answer; served or refused per RATE_LIMIT_FAILURE_MODE.',
    registers: [metrics],
  });
  const limits = new LimitsCache(
    { rules: options.services.limitRules, quotas: options.services.quotas },
    options.services.bus,
  );
  const limiter = new RateLimiter({
    store: options.services.limitStore,
    limits: (tenantId) => limits.get(tenantId),
    usedIn: (tenantId, quota, window) => usageRecords.usedIn(tenantId, quota, window),
    onEvent: announce,
    failureMode: config.env.rateLimitFailureMode,
    leaseMs: CONCURRENCY_LEASE_MS,
    onStoreError: (error) => {
      storeErrors.inc();
      app.log.warn(
        { err: error, failureMode: config.env.rateLimitFailureMode },
        'rate limit store failed',
      );
    },
  });
  await registerDocs(app, version);

  await app.register(v1Routes, {
    prefix: '/v1',
    inference: routing.inference,
    catalog: routing.catalog,
    resolver: routing.resolver,
    authenticator,
    limiter,
    defaultCompletionTokens: config.env.rateLimitDefaultCompletionTokens,
  });
  await app.register(adminRoutes, {
    prefix: '/admin/v1',
    authenticator,
    services: options.services,
  });
  await app.register(healthRoutes, {
    prefix: '/health',
    isReady: () => accepting,
    deployments: () => routing.router.snapshot(),
  });
  return app;
}
