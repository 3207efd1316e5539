import type { UsagePublisher } from '../services/usage/usage-publisher.js';
import { newId } from '../utils/ids.js';
import type { FinishedRequest, RequestContext } from './request-context.js';

/**
 * One usage event per tenant request that reached a model, made once the request is over
 * (a stream's usage is known only then) and handed to the queue off the response's path.
 */
export function registerUsageEvents(context: RequestContext, publisher: UsagePublisher): void {
  context.onFinished((finished) => {
    const event = usageEventOf(finished);
    if (event !== null) publisher.publish(event);
  });
}

function usageEventOf({ request, status, clientAborted, durationMs }: FinishedRequest) {
  const { principal, inference } = request;
  if (principal?.kind !== 'tenant' || inference === null || inference.usage === null) return null;
  return {
    // The gateway's own id: the client's x-request-id may repeat, this never does.
    id: newId('evt'),
    at: request.startedAt,
    requestId: request.id,
    tenantId: principal.tenantId,
    userId: principal.userId,
    keyId: principal.keyId,
    model: inference.model,
    provider: inference.provider,
    usage: inference.usage,
    cost: inference.cost ?? 0,
    latencyMs: durationMs,
    timeToFirstTokenMs: inference.timeToFirstChunkMs,
    status,
    streamed: inference.stream,
    clientDisconnected: clientAborted,
    cacheHit: inference.cacheHit ?? false,
    savedCost: inference.savedCost ?? 0,
  };
}
