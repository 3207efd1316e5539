import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../observability/metrics/catalogue.js';
import { NO_MODEL } from '../observability/metrics/inference.js';
import type { FinishedRequest, RequestContext } from './request-context.js';

/** The routes whose requests are inference: their own metrics, by model and tenant. */
const INFERENCE_ROUTES = new Set([
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/messages',
  '/v1/responses',
]);

/**
 * Records each finished request into the catalogue (HTTP, and for the inference routes the
 * model, tenant, tokens, cost and errors), and serves /metrics from the root's registry (one
 * per root, so apps in one process never collide). Nothing here waits: every series is
 * resolved once and kept.
 */
export function registerMetrics(
  app: FastifyInstance,
  context: RequestContext,
  metrics: Metrics,
): void {
  metrics.http.watch(app.server);
  context.onFinished((finished) => {
    const { request, status, durationMs } = finished;
    // Unmatched URLs share one label so scanners cannot blow up the series count.
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.http.finished(request.method, route, status, durationMs / 1000);
    if (INFERENCE_ROUTES.has(route)) recordInference(metrics, route, finished);
  });

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

function recordInference(metrics: Metrics, route: string, finished: FinishedRequest): void {
  const { request, status, durationMs } = finished;
  const { principal, inference } = request;
  // Requests without a tenant's key never got past authentication.
  if (principal === null || principal.kind !== 'tenant') return;
  const tenant = metrics.tenants.of(principal.tenantId);
  metrics.activity.seen(tenant, principal.keyId, principal.userId);
  const usage = inference?.usage ?? null;
  // A cache hit's or a follower's tokens were not spent upstream by this request.
  const spent = inference !== null && inference.cacheHit !== true && !inference.dedupOf;
  metrics.inference.record({
    route,
    tenant,
    // Configured names only, never the client's raw `model`: the series count stays bounded.
    model: inference?.model ?? request.modelName ?? NO_MODEL,
    provider: inference?.provider ?? NO_MODEL,
    deployment: inference?.deployment ?? NO_MODEL,
    ok: status < 400,
    errorCode: request.errorCode,
    seconds: durationMs / 1000,
    firstTokenSeconds:
      inference?.stream && inference.timeToFirstChunkMs !== null
        ? inference.timeToFirstChunkMs / 1000
        : null,
    tokens:
      spent && usage !== null
        ? {
            input: usage.promptTokens,
            output: usage.completionTokens,
            cached: usage.cachedTokens,
            estimated: usage.estimated,
          }
        : null,
    cost: spent ? (inference.cost ?? 0) : 0,
    saved: inference?.cacheHit ? (inference.savedCost ?? 0) : 0,
  });
}
