import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Histogram, type Registry } from 'prom-client';
import type { RequestContext } from './request-context.js';

/** HTTP metrics into the root's registry (one per root, so apps in one process never collide). */
export function registerMetrics(
  app: FastifyInstance,
  context: RequestContext,
  registry: Registry,
): void {
  collectDefaultMetrics({ register: registry, prefix: 'llm_backend_' });
  const requests = new Counter({
    name: 'llm_backend_http_requests_total',
    help: 'HTTP requests by method, route and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'llm_backend_http_request_duration_seconds',
    help: 'HTTP request duration, until the last byte of the response.',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'llm_backend_tokens_total',
    help: 'Tokens by model, provider, kind (input, output, cached) and whether estimated.',
    labelNames: ['model', 'provider', 'kind', 'estimated'],
    registers: [registry],
  });

  // The labelled series of each combination, looked up once: prom-client hashes the label
  // object on every inc() and observe() otherwise. The combinations are few (routes, statuses,
  // configured models), and the registry is never reset, so a series once made stays valid.
  type Series<T extends { labels: (...values: string[]) => unknown }> = ReturnType<T['labels']>;
  const http = new Map<string, { count: Series<typeof requests>; time: Series<typeof duration> }>();
  const usage = new Map<string, Record<'input' | 'output' | 'cached', Series<typeof tokens>>>();

  context.onFinished(({ request, status, durationMs }) => {
    // Unmatched URLs share one label so scanners cannot blow up the series count.
    const route = request.routeOptions.url ?? 'unmatched';
    const key = `${request.method} ${status} ${route}`;
    let series = http.get(key);
    if (series === undefined) {
      const labels = [request.method, route, String(status)];
      series = { count: requests.labels(...labels), time: duration.labels(...labels) };
      http.set(key, series);
    }
    series.count.inc();
    series.time.observe(durationMs / 1000);
    const used = request.inference?.usage;
    // A cache hit's tokens were not spent upstream (llm_backend_cache_requests_total counts it).
    if (request.inference && used && request.inference.cacheHit !== true) {
      const { model, provider } = request.inference;
      const estimated = String(used.estimated);
      const key = `${estimated} ${provider} ${model}`;
      let kinds = usage.get(key);
      if (kinds === undefined) {
        // In this order: the exposition lists the labels as given.
        const of = (kind: string) => tokens.labels({ model, provider, estimated, kind });
        kinds = { input: of('input'), output: of('output'), cached: of('cached') };
        usage.set(key, kinds);
      }
      kinds.input.inc(used.promptTokens);
      kinds.output.inc(used.completionTokens);
      kinds.cached.inc(used.cachedTokens);
    }
  });

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
}
