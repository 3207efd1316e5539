import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ModelConfig, ModelPricing } from '../../config/load.js';
import type { InferenceRecord } from '../../plugins/request-context.js';
import { passThroughTrace, spanOf } from '../../plugins/tracing.js';
import { commitAnswer, streamAccounting } from '../../plugins/usage-events.js';
import type { JsonObject } from '../../providers/types.js';
import type { Deduped } from '../../services/dedup/deduplicator.js';
import { admitCall, usedOf } from '../../services/inference/admit.js';
import {
  ATTEMPTS_HEADER,
  type InferenceCall,
  type Served,
} from '../../services/inference/inference-service.js';
import { type Capability, permits } from '../../services/inference/model-catalog.js';
import type { StreamOutcome } from '../../services/inference/stream-relay.js';
import type { Usage } from '../../services/inference/usage.js';
import type { Admission } from '../../services/limits/limiter.js';
import { chatCompletionOf } from '../../services/responses/native.js';
import { costOf } from '../../services/usage/cost.js';
import { newId } from '../../utils/ids.js';
import { type AnswerFormat, OPENAI_FORMAT } from './answer-format.js';
import { sendStored, serveHit } from './cache-hit.js';
import {
  assembling,
  CACHE_HEADER,
  type Caching,
  openCaching,
  REPLAY_HEADER,
  StreamAssembler,
  storedAnswer,
} from './caching.js';
import type { V1Deps } from './deps.js';
import { SSE_HEADERS, signalForClient } from './reply.js';
import { routingHints } from './routing-headers.js';
import { semanticOptIn, semanticStep } from './semantic.js';

/** Holds the request to its rate limits and quotas (none for a caller without a tenant key). */
async function admit(
  deps: HandlerDeps,
  request: FastifyRequest,
  model: ModelConfig,
  capability: Capability,
  body: JsonObject,
  cacheHit: boolean,
): Promise<Admission> {
  const principal = request.principal;
  if (principal?.kind !== 'tenant') return { headers: {}, settle: async () => {} };
  const { defaultCompletionTokens } = deps;
  const at = request.startedAt;
  return admitCall(deps.limiter, {
    principal,
    model,
    capability,
    body,
    at,
    defaultCompletionTokens,
    cacheHit,
  });
}

/**
 * What a fresh answer cost. A follower of another request's upstream call is accounted like a
 * cache hit: nothing spent, what the call would have cost as saved, and no quota counts it.
 */
function costs(usage: Usage, pricing: ModelPricing, dedupOf: string | null, byok: boolean) {
  const cost = costOf(usage, pricing);
  if (dedupOf) return { cost: 0, cacheHit: true, savedCost: cost, byok: false };
  // Sent with the tenant's own provider key: the provider bills the tenant, not the platform.
  return byok ? { cost: 0, byok } : { cost, byok };
}

type HandlerDeps = Pick<
  V1Deps,
  | 'inference'
  | 'resolver'
  | 'limiter'
  | 'defaultCompletionTokens'
  | 'usage'
  | 'cache'
  | 'idempotency'
  | 'semantic'
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
  caching: Caching;
  format: AnswerFormat;
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
  const { capability, body, call, model, admission, caching, format } = input;
  const assembler = caching.wantsAnswer ? new StreamAssembler(capability) : null;
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
      ...costs(outcome.usage, stream.deployment.pricing, dedupOf, stream.byok),
      timeToFirstChunkMs: outcome.timeToFirstChunkMs,
      dedupOf,
    });
  };
  accounting.track(async () => {
    const usage = await stream.progress();
    const free = stream.dedupOf || stream.byok;
    return { usage, cost: free ? 0 : costOf(usage, stream.deployment.pricing) };
  });
  request.settled = stream.outcome.then(async (outcome) => {
    ended(outcome);
    if (outcome.error) request.errorCode = outcome.error.wireCode ?? outcome.error.code;
    const answer = outcome.error || outcome.clientAborted ? null : assembler?.answer(outcome.usage);
    if (answer) {
      // What the upstream call cost, even when another request in flight paid for it.
      const cost = costOf(outcome.usage, stream.deployment.pricing);
      caching.answered({ ...servedOf(stream), body: answer, usage: outcome.usage, cost });
    } else caching.failed();
    // What was delivered counts, a cut stream too; nothing at all releases the tokens.
    await admission.settle(usedOf(record.usage, record.cost, record.dedupOf, stream.byok));
  });
  // The cache keeps the chat frames; the client's API writes them its own way after.
  const chat = assembler ? assembling(stream.events, assembler) : stream.events;
  return { headers: servedHeaders(stream), events: format.frames(chat, () => stream.progress()) };
}

/** The whole response, as text; the reservation is corrected off the response's path. */
async function complete(deps: HandlerDeps, input: Prepared, request: FastifyRequest) {
  const { capability, body, call, model, admission, caching, format } = input;
  const result = await deps.inference.complete(capability, body, call, model);
  request.inference = {
    model: result.model.name,
    provider: result.deployment.providerId,
    deployment: result.deployment.id,
    attempts: result.attempts,
    stream: false,
    usage: result.usage,
    ...costs(result.usage, result.deployment.pricing, result.dedupOf ?? null, result.byok),
    timeToFirstChunkMs: null,
    eventId: newId('evt'),
    committed: false,
    dedupOf: result.dedupOf ?? null,
  };
  // After the response, off its path: the correction is the request's second round trip.
  request.settled = admission.settle(
    usedOf(result.usage, request.inference.cost, result.dedupOf, result.byok),
  );
  // What the upstream call cost, even when another request in flight paid for it.
  const cost = costOf(result.usage, result.deployment.pricing);
  // Cache entries are chat answers, whichever API the upstream spoke.
  const entry = result.body.object === 'response' ? chatCompletionOf(result.body) : result.body;
  caching.answered({ ...servedOf(result), body: entry, usage: result.usage, cost });
  // Sent as a string: the upstream's object reaches the client exactly, unknown fields too.
  return { headers: servedHeaders(result), text: await format.json(result.body, result.usage) };
}

/** Who served a fresh answer, as its cache entry keeps it. */
function servedOf(served: Served) {
  return {
    model: served.model.name,
    provider: served.deployment.providerId,
    deployment: served.deployment.id,
  };
}

/** Sends the upstream's answer: a stream, or the whole response once the usage is queued. */
async function answerFresh(
  deps: HandlerDeps,
  input: Prepared,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const { capability } = input;
  try {
    if (capability !== 'embeddings' && input.body.stream === true) {
      const { headers, events } = await startStream(deps, { ...input, capability }, request, reply);
      // highWaterMark 1: pull one chunk from upstream only once the previous one was written.
      const sse = Readable.from(events, { highWaterMark: 1 });
      return reply.headers(headers).headers(SSE_HEADERS).send(sse);
    }
    const { headers, text } = await complete(deps, input, request);
    // The usage event is queued before the answer leaves: a crash after cannot lose it.
    await commitAnswer(deps.usage, request, reply, input.call.signal);
    return reply.headers(headers).type('application/json').send(text);
  } catch (error) {
    request.settled = input.admission.settle(null);
    input.caching.failed();
    throw error;
  }
}

/** The response cache and Idempotency-Key lookup, as the request's `cache lookup` span. */
async function lookUp(
  deps: HandlerDeps,
  capability: Capability,
  body: JsonObject,
  model: ModelConfig,
  request: FastifyRequest,
): Promise<Caching> {
  const span = spanOf(request).child('cache lookup');
  try {
    const caching = await openCaching(deps, capability, body, model, request);
    if (span.enabled)
      span.set({
        'llm_backend.cache.outcome':
          caching.replay !== null ? 'replay' : (caching.headers[CACHE_HEADER] ?? 'off'),
      });
    return caching;
  } catch (error) {
    span.fail(error);
    throw error;
  } finally {
    span.end();
  }
}

/** The semantic cache step, as a `semantic cache lookup` span for the requests that opt in. */
async function tracedSemanticStep(
  deps: HandlerDeps,
  step: Parameters<typeof semanticStep>[1],
  request: FastifyRequest,
) {
  if (!step.optIn || request.span === null) return semanticStep(deps, step, request);
  const span = spanOf(request).child('semantic cache lookup');
  try {
    const semantic = await semanticStep(deps, { ...step, trace: span }, request);
    span.set({ 'llm_backend.cache.outcome': semantic.headers[CACHE_HEADER] ?? 'skip' });
    return semantic;
  } finally {
    span.end();
  }
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
    format: AnswerFormat = OPENAI_FORMAT,
    responses?: JsonObject,
  ) => {
    const allowed = request.principal?.allowedModels ?? null;
    const hints = routingHints(request.headers);
    // An unknown model is a 404 before it can count against any limit.
    const model = await deps.resolver.resolve(capability, body, {
      allowed,
      maxLatencyMs: hints.maxLatencyMs,
    });
    request.modelName = model.name;
    // Read first: a bad value is refused before anything is claimed or counted.
    const optIn = semanticOptIn(request);
    const caching = await lookUp(deps, capability, body, model, request);
    if (caching.replay !== null)
      return sendStored(reply, storedAnswer(capability, body, caching.replay), format, {
        [REPLAY_HEADER]: 'true',
      });
    let admission: Admission;
    const limits = spanOf(request).child('limits');
    try {
      admission = await admit(deps, request, model, capability, body, caching.hit !== null);
    } catch (error) {
      limits.fail(error);
      caching.failed();
      throw error;
    } finally {
      limits.end();
    }
    reply.headers(admission.headers).headers(caching.headers);
    if (caching.hit !== null)
      return serveHit(
        deps,
        { capability, body, admission, caching, format },
        caching.hit,
        request,
        reply,
      );
    const principal = request.principal;
    const call: InferenceCall = {
      signal: signalForClient(reply),
      requestId: request.id,
      tenantId: principal?.kind === 'tenant' ? principal.tenantId : null,
      mayUse: (candidate: ModelConfig) => permits(allowed, candidate.name),
      strategy: hints.strategy,
      trace: spanOf(request),
      clientTrace: passThroughTrace(request),
      responses,
    };
    const step = { capability, body, model, caching, admission, signal: call.signal, optIn };
    const semantic = await tracedSemanticStep(deps, step, request);
    reply.headers(semantic.headers);
    if (semantic.hit !== null)
      return serveHit(
        deps,
        { capability, body, format, ...semantic },
        semantic.hit,
        request,
        reply,
      );
    const fresh = { capability, body, call, model, format, ...semantic };
    return answerFresh(deps, fresh, request, reply);
  };
}
