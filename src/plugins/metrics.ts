import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Histogram, type Registry } from 'prom-client';
import type { RequestContext } from './request-context.js';

/** HTTP metrics into the root's registry (one per root, so apps in one process never collide). */
export function registerMetrics(
  app: FastifyInstance,
  context: RequestContext,
  registry: Registry,
): void {
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration, until the last byte of the response.',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'llm_tokens_total',
    help: 'Tokens by model, provider, kind (prompt, completion, cached) and whether estimated.',
    labelNames: ['model', 'provider', 'kind', 'estimated'],
    registers: [registry],
  });

  context.onFinished(({ request, status, durationMs }) => {
    // Unmatched URLs share one label so scanners cannot blow up the series count.
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: String(status),
    };
    requests.inc(labels);
    duration.observe(labels, durationMs / 1000);
    const usage = request.inference?.usage;
    // A cache hit's tokens were not spent upstream (response_cache_requests_total counts it).
    if (request.inference && usage && request.inference.cacheHit !== true) {
      const base = {
        model: request.inference.model,
        provider: request.inference.provider,
        estimated: String(usage.estimated),
      };
      tokens.inc({ ...base, kind: 'prompt' }, usage.promptTokens);
      tokens.inc({ ...base, kind: 'completion' }, usage.completionTokens);
      tokens.inc({ ...base, kind: 'cached' }, usage.cachedTokens);
    }
  });

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
}
