import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Usage } from '../services/inference/usage.js';
import type { UsageCommitter } from '../services/usage/usage-commit.js';
import type { UsageEvent } from '../services/usage/usage-records.js';
import { newId } from '../utils/ids.js';
import type { FinishedRequest, RequestContext } from './request-context.js';
import { spanOf } from './tracing.js';

/** How the request ended, or stands at the moment its event is made. */
interface Ending {
  status: number;
  latencyMs: number;
  clientDisconnected: boolean;
  /** What was used, when not (yet) the request's own record: a running stream's progress. */
  used?: { usage: Usage; cost: number };
}

/**
 * One usage event per tenant request that reached a model. An answer commits it before its
 * last byte leaves (commitAnswer); a request that ended otherwise (its client left, it failed
 * after the headers) has it made here once it is over, off the response's path.
 */
export function registerUsageEvents(context: RequestContext, usage: UsageCommitter): void {
  context.onFinished(({ request, status, clientAborted, durationMs }: FinishedRequest) => {
    if (request.inference?.committed) return;
    const event = usageEventOf(request, {
      status,
      latencyMs: durationMs,
      clientDisconnected: clientAborted,
    });
    if (event !== null) usage.publish(event);
  });
}

/**
 * Commits the answer's usage event and resolves once it is queued (or the commit timed out,
 * the event then buffered); the answer's last byte goes only after. The event is the answer
 * as it stands now: the status about to be sent, the latency so far, the client still there.
 */
export async function commitAnswer(
  usage: UsageCommitter,
  request: FastifyRequest,
  reply: FastifyReply,
  signal: AbortSignal,
): Promise<void> {
  // A client already gone gets no answer: its event is made at the end, as a 499.
  if (signal.aborted || request.inference === null) return;
  const event = usageEventOf(request, {
    status: reply.statusCode,
    latencyMs: reply.elapsedTime,
    clientDisconnected: false,
  });
  if (event === null) return;
  // Before the wait: a commit that times out leaves the event buffered, still the only one.
  request.inference.committed = true;
  const span = spanOf(request);
  const commit = span.enabled
    ? span.child('usage commit', { 'llm_backend.event_id': event.id })
    : span;
  try {
    await usage.commit(event);
  } finally {
    commit.end();
  }
}

/**
 * A stream's accounting: `track` records its progress while it runs (from what `used`
 * says), until `ended`; `commit` ends the tracking and commits its event, before [DONE].
 */
export function streamAccounting(
  usage: UsageCommitter,
  request: FastifyRequest,
  reply: FastifyReply,
  signal: AbortSignal,
) {
  let stop = () => {};
  return {
    track(used: () => Promise<{ usage: Usage; cost: number }>): void {
      stop = usage.track(async () =>
        usageEventOf(request, {
          status: reply.statusCode,
          latencyMs: reply.elapsedTime,
          clientDisconnected: false,
          used: await used(),
        }),
      );
    },
    ended: () => stop(),
    commit(): Promise<void> {
      stop();
      return commitAnswer(usage, request, reply, signal);
    },
  };
}

type TenantCaller = Extract<NonNullable<FastifyRequest['principal']>, { kind: 'tenant' }>;

/** Who made the request and when: the same on every usage event the request causes. */
function caller(request: FastifyRequest, principal: TenantCaller) {
  return {
    at: request.startedAt,
    requestId: request.id,
    tenantId: principal.tenantId,
    userId: principal.userId,
    keyId: principal.keyId,
  };
}

function usageEventOf(request: FastifyRequest, ending: Ending): UsageEvent | null {
  const { principal, inference } = request;
  if (principal?.kind !== 'tenant' || inference === null) return null;
  const usage = ending.used?.usage ?? inference.usage;
  if (usage === null) return null;
  return {
    // The gateway's own id, made when the request reached a model: the client's x-request-id
    // may repeat, this never does, and a stream's progress record carries the same one.
    id: inference.eventId,
    ...caller(request, principal),
    model: inference.model,
    provider: inference.provider,
    usage,
    cost: ending.used?.cost ?? inference.cost ?? 0,
    latencyMs: ending.latencyMs,
    timeToFirstTokenMs: inference.timeToFirstChunkMs,
    status: ending.status,
    streamed: inference.stream,
    clientDisconnected: ending.clientDisconnected,
    cacheHit: inference.cacheHit ?? false,
    savedCost: inference.savedCost ?? 0,
    byok: inference.byok ?? false,
  };
}

/** An upstream call a request made on its own behalf, besides its answer (an embedding). */
export interface SideCall {
  model: string;
  provider: string;
  usage: Usage;
  cost: number;
}

/**
 * Accounts a side call as a usage record of its own, with the request's id, tenant, user and
 * key, off the response's path: the tenant caused it, whatever became of the request.
 */
export function publishCallUsage(
  usage: UsageCommitter,
  request: FastifyRequest,
  call: SideCall,
  latencyMs: number,
): void {
  const { principal } = request;
  if (principal?.kind !== 'tenant') return;
  usage.publish({
    id: newId('evt'),
    ...caller(request, principal),
    model: call.model,
    provider: call.provider,
    usage: call.usage,
    cost: call.cost,
    latencyMs: Math.round(latencyMs * 100) / 100,
    timeToFirstTokenMs: null,
    status: 200,
    streamed: false,
    clientDisconnected: false,
    cacheHit: false,
    savedCost: 0,
  });
}
