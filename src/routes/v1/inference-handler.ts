import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ModelConfig } from '../../config/load.js';
import type { InferenceRecord } from '../../plugins/request-context.js';
import { commitAnswer, streamAccounting } from '../../plugins/usage-events.js';
import type { JsonObject } from '../../providers/types.js';
import type { Deduped } from '../../services/dedup/deduplicator.js';
import {
  ATTEMPTS_HEADER,
  type InferenceCall,
  type Served,
} from '../../services/inference/inference-service.js';
import { type Capability, permits } from '../../services/inference/model-catalog.js';
import type { StreamOutcome } from '../../services/inference/stream-relay.js';
import type { Usage } from '../../services/inference/usage.js';
import type { Admission, Used } from '../../services/limits/limiter.js';
import { tokensToReserve } from '../../services/limits/reservation.js';
import { costOf } from '../../services/usage/cost.js';
import { newId } from '../../utils/ids.js';
import type { V1Deps } from './deps.js';
import { routingHints } from './routing-headers.js';

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  // Proxies such as nginx would otherwise hold chunks back.
  'x-accel-buffering': 'no',
};

/** Aborts upstream work as soon as the client's connection closes before the response ended. */
function signalForClient(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** Holds the request to its rate limits and quotas (none for a caller without a tenant key). */
async function admit(
  deps: HandlerDeps,
  request: FastifyRequest,
  model: ModelConfig,
  capability: Capability,
  body: JsonObject,
): Promise<Admission> {
  const principal = request.principal;
  if (principal?.kind !== 'tenant') return { headers: {}, settle: async () => {} };
  return deps.limiter.admit({
    principal,
    model,
    at: request.startedAt,
    reserve: () => tokensToReserve(capability, body, deps.defaultCompletionTokens),
  });
}

/** What a call used, as limits and quotas count it. */
function usedOf(usage: Usage | null, cost: number | null, dedupOf?: string | null): Used | null {
  if (usage === null) return null;
  // Served by another request's upstream call: its tokens and cost are that request's.
  if (dedupOf) return { tokens: 0, cost: 0 };
  return { tokens: usage.promptTokens + usage.completionTokens, cost: cost ?? 0 };
}

type HandlerDeps = Pick<
  V1Deps,
  'inference' | 'resolver' | 'limiter' | 'defaultCompletionTokens' | 'usage'
>;

/** Which deployment served the request and how many upstream calls it took. */
function servedHeaders(served: Served & Deduped): Record<string, string> {
  return {
    'x-llm-backend-model': served.model.name,
    'x-llm-backend-deployment': served.deployment.id,
    [ATTEMPTS_HEADER]: String(served.attempts),
    ...(served.dedupOf && { 'x-llm-backend-cache': 'dedup' }),
  };
}

interface Prepared {
  capability: Capability;
  body: JsonObject;
  call: InferenceCall;
  model: ModelConfig;
  admission: Admission;
}

/**
 * Starts the stream and its accounting, which waits for the stream's end; returns the events
 * to send. Sending stays with the handler: a reply is thenable, and awaiting it would wait
 * for the whole response. Progress is recorded while it runs, and the usage event committed
 * before the final `data: [DONE]`.
 */
async function startStream(
  deps: HandlerDeps,
  input: Prepared & { capability: Exclude<Capability, 'embeddings'> },
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const { capability, body, call, model, admission } = input;
  const accounting = streamAccounting(deps.usage, request, reply, call.signal);
  // Runs after the last chunk, before [DONE]: the stream and its record exist by then.
  const commit = async (outcome: StreamOutcome) => {
    ended(outcome);
    await accounting.commit();
  };
  const stream = await deps.inference.stream(capability, body, { ...call, commit }, model);
  const record: InferenceRecord = {
    model: stream.model.name,
    provider: stream.deployment.providerId,
    deployment: stream.deployment.id,
    attempts: stream.attempts,
    stream: true,
    usage: null,
    cost: null,
    timeToFirstChunkMs: null,
    eventId: newId('evt'),
    committed: false,
  };
  request.inference = record;
  const ended = (outcome: StreamOutcome) => {
    accounting.ended();
    // Known only at the end: a follower whose leader died may have made the call itself.
    const dedupOf = stream.dedupOf ?? null;
    Object.assign(record, {
      usage: outcome.usage,
      cost: dedupOf ? 0 : costOf(outcome.usage, stream.deployment.pricing),
      timeToFirstChunkMs: outcome.timeToFirstChunkMs,
      dedupOf,
    });
  };
  accounting.track(async () => {
    const usage = await stream.progress();
    return { usage, cost: stream.dedupOf ? 0 : costOf(usage, stream.deployment.pricing) };
  });
  request.settled = stream.outcome.then(async (outcome) => {
    ended(outcome);
    if (outcome.error) request.errorCode = outcome.error.wireCode ?? outcome.error.code;
    // What was delivered counts, a cut stream too; nothing at all releases the tokens.
    await admission.settle(usedOf(record.usage, record.cost, record.dedupOf));
  });
  return { headers: servedHeaders(stream), events: stream.events };
}

/** The whole response, as text; the reservation is corrected off the response's path. */
async function complete(deps: HandlerDeps, input: Prepared, request: FastifyRequest) {
  const { capability, body, call, model, admission } = input;
  const result = await deps.inference.complete(capability, body, call, model);
  request.inference = {
    model: result.model.name,
    provider: result.deployment.providerId,
    deployment: result.deployment.id,
    attempts: result.attempts,
    stream: false,
    usage: result.usage,
    cost: result.dedupOf ? 0 : costOf(result.usage, result.deployment.pricing),
    timeToFirstChunkMs: null,
    eventId: newId('evt'),
    committed: false,
    dedupOf: result.dedupOf ?? null,
  };
  // After the response, off its path: the correction is the request's second round trip.
  request.settled = admission.settle(usedOf(result.usage, request.inference.cost, result.dedupOf));
  // Sent as a string: the upstream's object reaches the client exactly, unknown fields too.
  return { headers: servedHeaders(result), text: JSON.stringify(result.body) };
}

/**
 * The inference routes' one handler: resolves the model, holds the request to its limits,
 * then answers with a stream or a whole response.
 */
export function inferenceHandler(deps: HandlerDeps) {
  return async (
    capability: Capability,
    body: JsonObject,
    request: FastifyRequest,
    reply: FastifyReply,
  ) => {
    const allowed = request.principal?.allowedModels ?? null;
    const hints = routingHints(request.headers);
    // An unknown model is a 404 before it can count against any limit.
    const model = await deps.resolver.resolve(capability, body, {
      allowed,
      maxLatencyMs: hints.maxLatencyMs,
    });
    const admission = await admit(deps, request, model, capability, body);
    reply.headers(admission.headers);
    const principal = request.principal;
    const call: InferenceCall = {
      signal: signalForClient(reply),
      requestId: request.id,
      tenantId: principal?.kind === 'tenant' ? principal.tenantId : null,
      mayUse: (candidate: ModelConfig) => permits(allowed, candidate.name),
      strategy: hints.strategy,
    };
    const input = { capability, body, call, model, admission };
    try {
      if (capability !== 'embeddings' && body.stream === true) {
        const { headers, events } = await startStream(
          deps,
          { ...input, capability },
          request,
          reply,
        );
        // highWaterMark 1: pull one chunk from upstream only once the previous one was written.
        const sse = Readable.from(events, { highWaterMark: 1 });
        return reply.headers(headers).headers(SSE_HEADERS).send(sse);
      }
      const { headers, text } = await complete(deps, input, request);
      // The usage event is queued before the answer leaves: a crash after cannot lose it.
      await commitAnswer(deps.usage, request, reply, call.signal);
      return reply.headers(headers).type('application/json').send(text);
    } catch (error) {
      request.settled = admission.settle(null);
      throw error;
    }
  };
}
