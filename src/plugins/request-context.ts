import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Usage } from '../services/inference/usage.js';
import type { KeyPrincipal } from '../services/keys/key-service.js';
import { newId } from '../utils/ids.js';
import { responseFinished } from './response-state.js';

/** What a request did upstream, filled in by the inference routes, read by logs and metrics. */
export interface InferenceRecord {
  /** The model that served the request (a fallback's name when one took over). */
  model: string;
  provider: string;
  /** The model's deployment that served it. */
  deployment: string;
  /** Upstream calls made, the successful one included. */
  attempts: number;
  stream: boolean;
  usage: Usage | null;
  /** What the usage cost at the model's prices; null while the usage is unknown. */
  cost: number | null;
  timeToFirstChunkMs: number | null;
  /** Answered from the response cache (no upstream call). */
  cacheHit?: boolean;
  /** For a cache hit, what the upstream call would have cost. */
  savedCost?: number;
  /** Served with the tenant's own provider key (no provider cost to the platform). */
  byok?: boolean;
  /** The request's usage event id (`evt_...`), made when it reached a model. */
  eventId: string;
  /** Its usage event was committed before the answer's last byte: none is made at the end. */
  committed: boolean;
  /**
   * The request whose upstream call answered this one (deduplication in flight); null when
   * it made its own. Such a request is accounted with that call's usage at no cost.
   */
  dedupOf?: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    inference: InferenceRecord | null;
    /**
     * The configured model the request was resolved to, set before any limit or upstream
     * call: the metrics name it when no answer came (a refusal, every upstream failing).
     */
    modelName: string | null;
    errorCode: string | null;
    /** Settles once work that outlives the response (a stream's usage) is recorded. */
    settled: Promise<void> | null;
    /** The caller, once its API key is resolved. */
    principal: KeyPrincipal | null;
    /** When the request arrived: the moment its usage is accounted at (quota periods too). */
    startedAt: Date;
  }
}

export interface FinishedRequest {
  request: FastifyRequest;
  /** The status sent, or 499 when the client closed the connection before the end. */
  status: number;
  clientAborted: boolean;
  durationMs: number;
}

export type FinishedListener = (finished: FinishedRequest) => void;

export interface RequestContext {
  onFinished(listener: FinishedListener): void;
}

/** nginx's code for "client closed request": no response status describes it. */
const CLIENT_CLOSED = 499;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Keeps a caller's x-request-id when it is safe to echo and log; otherwise mints a
 * time-sortable `req_` id so log lines order by time at a glance.
 */
export function requestIdFor(header: string | string[] | undefined): string {
  if (typeof header === 'string' && REQUEST_ID.test(header)) return header;
  return newId('req');
}

/**
 * Request ids, and one "finished" event per request that also fires when the client goes
 * away mid-response (Fastify's onResponse does not), after the request's usage is known.
 */
export function registerRequestContext(app: FastifyInstance): RequestContext {
  const listeners: FinishedListener[] = [logCompletion];
  app.decorateRequest('inference', null);
  app.decorateRequest('modelName', null);
  app.decorateRequest('errorCode', null);
  app.decorateRequest('settled', null);
  app.decorateRequest('principal', null);
  // Set by the first hook of every request; null only until then.
  app.decorateRequest('startedAt', null as unknown as Date);
  app.addHook('onRequest', async (request, reply) => {
    request.startedAt = new Date();
    reply.header('x-request-id', request.id);
    reply.raw.once('close', () => void finish(request, reply, listeners));
  });
  return { onFinished: (listener) => listeners.push(listener) };
}

async function finish(request: FastifyRequest, reply: FastifyReply, listeners: FinishedListener[]) {
  const clientAborted = !responseFinished(reply.raw);
  await request.settled;
  const finished: FinishedRequest = {
    request,
    status: clientAborted ? CLIENT_CLOSED : reply.statusCode,
    clientAborted,
    durationMs: reply.elapsedTime,
  };
  for (const listener of listeners) {
    try {
      listener(finished);
    } catch (error) {
      request.log.error({ err: error }, 'request finished listener failed');
    }
  }
}

/**
 * Adds fields to every later log line of the request. Its logger is its own child (Fastify
 * makes one per request for the request id), so the fields go into it in place; were it the
 * server's own logger, a child is made instead, so no other line gets them.
 */
export function bindToLog(request: FastifyRequest, bindings: Record<string, unknown>): void {
  const log: FastifyBaseLogger & { setBindings?: (bindings: Record<string, unknown>) => void } =
    request.log;
  if (log.setBindings && log !== request.server.log) log.setBindings(bindings);
  else request.log = log.child(bindings);
}

/**
 * Who is calling, as every log line of its request names it from the moment its key is
 * resolved: the tenant, the key and the key's user (null for a key of no user). A platform
 * key has no tenant of its own; the tenant it acts on is added once resolved (tenantBinding).
 */
export function callerBindings(principal: KeyPrincipal) {
  return principal.kind === 'tenant'
    ? { tenantId: principal.tenantId, userId: principal.userId, keyId: principal.keyId }
    : { userId: null, keyId: principal.keyId };
}

/** The caller's fields of a finished request, for records that carry no logger bindings. */
export function callerFields(request: FastifyRequest) {
  const principal = request.principal;
  if (principal === null) return {};
  return {
    // A platform key acting on a tenant (the admin API) is named with that tenant.
    tenantId: principal.kind === 'tenant' ? principal.tenantId : (request.tenant?.id ?? null),
    ...callerBindings(principal),
  };
}

/**
 * What one finished request was, as its log line and the log stream tell it; the caller's
 * fields are the log line's bindings (callerBindings), the log stream adds them itself.
 */
export function completionRecord({ request, status, clientAborted, durationMs }: FinishedRequest) {
  const inference = request.inference;
  const usage = inference?.usage;
  return {
    method: request.method,
    route: request.routeOptions.url ?? null,
    status,
    latencyMs: Math.round(durationMs * 100) / 100,
    clientAborted,
    ...(inference && {
      model: inference.model,
      provider: inference.provider,
      deployment: inference.deployment,
      attempts: inference.attempts,
      stream: inference.stream,
      timeToFirstChunkMs: inference.timeToFirstChunkMs,
      ...(inference.dedupOf && { dedupOf: inference.dedupOf }),
      ...(inference.cacheHit && { cacheHit: true }),
    }),
    ...(usage && {
      tokens: {
        prompt: usage.promptTokens,
        completion: usage.completionTokens,
        cached: usage.cachedTokens,
        total: usage.totalTokens,
        estimated: usage.estimated,
      },
    }),
    ...(request.errorCode && { error: request.errorCode }),
  };
}

function logCompletion(finished: FinishedRequest): void {
  finished.request.log.info(completionRecord(finished), 'request completed');
}
