import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  clientTraceHeaders,
  NOOP_SPAN,
  type Span,
  type Tracing,
} from '../services/tracing/span.js';
import { isOpsRoute } from './ops-auth.js';
import { bindToLog, type FinishedRequest, type RequestContext } from './request-context.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's server span; null while tracing is off (read it through spanOf). */
    span: Span | null;
  }
}

/** The request's span, or the no-op one: callers never branch on tracing being on. */
export function spanOf(request: FastifyRequest): Span {
  return request.span ?? NOOP_SPAN;
}

/**
 * The trace context to send upstream when no span of ours stands in between: the client's
 * own, unchanged, so that the upstream still joins the client's trace with tracing off.
 */
export function passThroughTrace(request: FastifyRequest) {
  return request.span === null ? clientTraceHeaders(request.headers) : null;
}

/**
 * One server span per request, named by its route, from its first hook to the moment it is
 * over (a stream's last byte, or the client gone). With tracing off nothing is registered:
 * the request path pays one null check per span it would have made.
 */
export function registerTracing(
  app: FastifyInstance,
  context: RequestContext,
  tracing: Tracing,
): void {
  app.decorateRequest('span', null);
  if (!tracing.enabled) return;
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    // Probes and scrapes come every few seconds and say nothing about the traffic.
    if (route !== undefined && (route.startsWith('/health/') || isOpsRoute(route))) return;
    request.span = tracing.startRequest(
      route === undefined ? request.method : `${request.method} ${route}`,
      request.headers,
      {
        'http.request.method': request.method,
        'http.route': route,
        'url.path': request.url.split('?', 1)[0],
        'llm_backend.request_id': request.id,
      },
    );
    // Every log line of the request leads to its trace, and the trace back to the lines.
    bindToLog(request, { traceId: request.span.traceId() });
  });
  context.onFinished(endServerSpan);
}

function endServerSpan({ request, status, clientAborted }: FinishedRequest): void {
  const span = request.span;
  if (span === null) return;
  const { principal, inference } = request;
  span.set({
    'http.response.status_code': status,
    'llm_backend.client_aborted': clientAborted || undefined,
    'llm_backend.error_code': request.errorCode,
    ...(principal && {
      'llm_backend.tenant_id':
        principal.kind === 'tenant' ? principal.tenantId : (request.tenant?.id ?? null),
      'llm_backend.user_id': principal.kind === 'tenant' ? principal.userId : null,
      'llm_backend.key_id': principal.keyId,
    }),
    ...(inference && {
      'llm_backend.model': inference.model,
      'llm_backend.provider': inference.provider,
      'llm_backend.deployment': inference.deployment,
      'llm_backend.attempts': inference.attempts,
      'llm_backend.stream': inference.stream,
      'llm_backend.cache_hit': inference.cacheHit === true,
      'llm_backend.dedup_of': inference.dedupOf,
      'gen_ai.usage.input_tokens': inference.usage?.promptTokens,
      'gen_ai.usage.output_tokens': inference.usage?.completionTokens,
    }),
  });
  // Server spans fail on 5xx only: a 4xx is the client's mistake, answered as intended.
  if (status >= 500) span.fail({ name: 'HttpError', code: request.errorCode ?? String(status) });
  span.end();
}
