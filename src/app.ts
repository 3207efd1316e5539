import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import type { AppConfig } from './config/load.js';
import { GatewayError } from './errors/gateway-error.js';
import { registerDocs } from './plugins/docs.js';
import { registerErrorHandling } from './plugins/errors.js';
import { registerJsonBodyParser } from './plugins/json-body.js';
import { registerMetrics } from './plugins/metrics.js';
import { registerRequestContext, requestIdFor } from './plugins/request-context.js';
import { ProviderRegistry } from './providers/registry.js';
import { adminRoutes } from './routes/admin/index.js';
import { healthRoutes } from './routes/ops/health.js';
import { v1Routes } from './routes/v1/index.js';
import { InferenceService } from './services/inference/inference-service.js';
import { ModelCatalog } from './services/inference/model-catalog.js';
import { CachingAuthenticator } from './services/keys/authenticator.js';
import { FailureThrottle } from './services/keys/failure-throttle.js';
import type { Services } from './services/services.js';

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
  const providers = new ProviderRegistry(config.providers);
  const catalog = new ModelCatalog(config.models);
  const inference = new InferenceService({ catalog, providers });
  let accepting = true;
  app.addHook('preClose', async () => {
    accepting = false;
  });
  app.addHook('onClose', async () => providers.close());

  const requestContext = registerRequestContext(app);
  // Requests that still arrive on open keep-alive connections while draining get a 503 in
  // OpenAI's shape (Fastify's own 503 body is not), and the connection is closed after it.
  app.addHook('onRequest', async (request, reply) => {
    if (accepting || request.url.startsWith('/health/')) return;
    reply.header('connection', 'close');
    throw new GatewayError('service_unavailable');
  });
  registerErrorHandling(app);
  registerJsonBodyParser(app);
  registerMetrics(app, requestContext);
  await registerDocs(app, version);

  await app.register(v1Routes, {
    prefix: '/v1',
    inference,
    catalog,
    authenticator,
  });
  await app.register(adminRoutes, {
    prefix: '/admin/v1',
    authenticator,
    services: options.services,
  });
  await app.register(healthRoutes, { prefix: '/health', isReady: () => accepting });
  return app;
}
