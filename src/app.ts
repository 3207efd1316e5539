import { readFileSync } from 'node:fs';
import type { Http2SecureServer } from 'node:http2';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyHttp2SecureOptions,
  type FastifyInstance,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import type { Root } from './composition/root.js';
import { GatewayError } from './errors/gateway-error.js';
import { registerAlerts } from './plugins/alerts.js';
import { registerCompression } from './plugins/compression.js';
import { registerDocs } from './plugins/docs.js';
import { registerErrorHandling } from './plugins/errors.js';
import { registerHttpEdge } from './plugins/http-edge.js';
import { registerJsonBodyParser } from './plugins/json-body.js';
import { registerLogShipping } from './plugins/log-shipping.js';
import { registerMetrics } from './plugins/metrics.js';
import { registerRequestContext, requestIdFor } from './plugins/request-context.js';
import { registerSessionCookies, sessionGate } from './plugins/session-auth.js';
import { prepareSecureServer, registerHttp2Headers, secureServerOptions } from './plugins/tls.js';
import { registerTracing } from './plugins/tracing.js';
import { registerUsageEvents } from './plugins/usage-events.js';
import { adminRoutes } from './routes/admin/index.js';
import { healthRoutes } from './routes/ops/health.js';
import { uiRoutes } from './routes/ui/index.js';
import { v1Routes } from './routes/v1/index.js';
import { organizationRoutes } from './routes/v1/organization.js';

/** Trusts the nearest `hops` proxies: their X-Forwarded-For entries name the client. */
const hopsOf = (hops: number) => (_address: string, hop: number) => hop < hops;

const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string };

/**
 * The HTTP app over a composed `serve` root: plugins, then routes. It owns the root from
 * here on: closing the app closes the root, once in-flight requests are done.
 */
export async function buildApp(root: Root): Promise<FastifyInstance> {
  const { config, services, gateway } = root;
  if (gateway === null) throw new Error('buildApp needs a root composed for serve');
  const logger: FastifyBaseLogger = root.log;
  const options: FastifyServerOptions = {
    loggerInstance: logger,
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
  };
  const { tls } = config.env;
  // Node's HTTP/2 compatibility API gives requests and responses the shape of HTTP/1's, which
  // is all the app uses: the one instance type serves both.
  const app: FastifyInstance =
    tls === null
      ? Fastify(options)
      : (Fastify({
          ...(options as FastifyHttp2SecureOptions<Http2SecureServer>),
          http2: true,
          https: secureServerOptions(tls),
        }) as unknown as FastifyInstance);
  if (tls !== null) {
    prepareSecureServer(app.server as unknown as Http2SecureServer);
    registerHttp2Headers(app);
  }
  app.addHook('onClose', () => root.close());

  let accepting = true;
  app.addHook('preClose', async () => {
    accepting = false;
  });
  const requestContext = registerRequestContext(app);
  // Before every other hook, so the server span covers the whole request, auth included.
  registerTracing(app, requestContext, gateway.tracing);
  registerHttpEdge(app, config.env, gateway.authenticator);
  // Requests that still arrive on open keep-alive connections while draining get a 503 in
  // OpenAI's shape (Fastify's own 503 body is not), and the connection is closed after it.
  app.addHook('onRequest', async (request, reply) => {
    if (accepting || request.url.startsWith('/health/')) return;
    // Taken off again for HTTP/2, whose session the drain closes with GOAWAY instead.
    reply.header('connection', 'close');
    throw new GatewayError('service_unavailable');
  });
  registerErrorHandling(app);
  registerCompression(app);
  registerJsonBodyParser(app);
  registerMetrics(app, requestContext, root.instruments);
  gateway.routing.start();
  registerUsageEvents(requestContext, gateway.usage);
  registerLogShipping(app, requestContext, services.logStream);
  registerAlerts(app, requestContext, gateway.alerts, config.alerts);
  await registerDocs(app, version);
  await registerSessionCookies(app);
  const sessions = sessionGate(gateway.sessions);

  await app.register(v1Routes, {
    prefix: '/v1',
    inference: gateway.inference,
    catalog: gateway.routing.catalog,
    resolver: gateway.routing.resolver,
    authenticator: gateway.authenticator,
    sessions,
    limiter: gateway.limiter,
    defaultCompletionTokens: config.env.rateLimitDefaultCompletionTokens,
    cache: gateway.cache,
    idempotency: gateway.idempotency,
    semantic: gateway.semantic,
    usage: gateway.usage,
    responses: gateway.responses,
    files: gateway.files,
    batches: gateway.batches,
    filesMaxBytes: config.env.filesMaxBytes,
  });
  const embeddingOnly = new Set(
    config.models
      .filter(
        (m) => m.capabilities.embeddings && !m.capabilities.chat && !m.capabilities.completions,
      )
      .map((m) => m.name),
  );
  await app.register(organizationRoutes, {
    prefix: '/v1/organization',
    authenticator: gateway.authenticator,
    tenants: services.tenants,
    isEmbeddingModel: (model) => embeddingOnly.has(model),
  });
  await app.register(adminRoutes, {
    prefix: '/admin/v1',
    authenticator: gateway.authenticator,
    sessions,
    services,
    deployments: () => gateway.routing.router.statuses(),
  });
  await app.register(uiRoutes, {
    dir: config.env.adminPanel.dir,
    sessions: gateway.sessions,
    gate: sessions,
    tenants: services.tenants,
    oidc: gateway.oidc,
  });
  await app.register(healthRoutes, {
    prefix: '/health',
    isReady: () => accepting,
    deployments: () => gateway.routing.router.snapshot(),
  });
  return app;
}
