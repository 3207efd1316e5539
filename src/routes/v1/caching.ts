import type { FastifyRequest } from 'fastify';
import type { ModelConfig } from '../../config/load.js';
import type { JsonObject } from '../../providers/types.js';
import type { CacheEntry } from '../../services/cache/cache-entry.js';
import { Idempotency } from '../../services/cache/idempotency.js';
import { requestKey } from '../../services/cache/request-key.js';
import type { CachePlan, Lookup, ResponseCache } from '../../services/cache/response-cache.js';
import { answerAsSse, StreamAssembler } from '../../services/cache/stream-answer.js';
import type { Capability } from '../../services/inference/model-catalog.js';

export const CACHE_HEADER = 'x-llm-backend-cache';
export const REPLAY_HEADER = 'x-llm-backend-idempotent-replay';

export interface CachingDeps {
  cache: ResponseCache;
  idempotency: Idempotency;
}

type Hit = Extract<Lookup, { kind: 'hit' }>;

/**
 * What the response cache and an Idempotency-Key make of one request, decided after the
 * model is resolved and before admission: a stored answer to replay, a cache hit, or a
 * fresh answer to keep once it is complete.
 */
export interface Caching {
  /** The key's first answer, sent again as it was (no admission, no usage). */
  replay: JsonObject | null;
  hit: Hit | null;
  /** `x-llm-backend-cache` and, on a hit, `age`. */
  headers: Record<string, string>;
  /** Whether a fresh answer is wanted (for the cache or the key): streams assemble theirs. */
  wantsAnswer: boolean;
  /** The complete answer, once there is one: stored off the response's path. */
  answered(entry: CacheEntry): void;
  /** An answer that is not this request's own (a semantic hit): the key keeps it, no cache. */
  keep(entry: CacheEntry): void;
  /** The request failed or was cut: the key is free again. */
  failed(): void;
}

const NOTHING: Caching = {
  replay: null,
  hit: null,
  headers: {},
  wantsAnswer: false,
  answered: () => {},
  keep: () => {},
  failed: () => {},
};

export async function openCaching(
  deps: CachingDeps,
  capability: Capability,
  body: JsonObject,
  model: ModelConfig,
  request: FastifyRequest,
): Promise<Caching> {
  const principal = request.principal;
  if (principal?.kind !== 'tenant') return NOTHING;
  const { tenantId } = principal;
  const key = Idempotency.keyOf(request.headers['idempotency-key']);
  let claimed = false;
  let fingerprint = '';
  if (key !== null) {
    fingerprint = requestKey({ tenantId, capability, model: model.name, body });
    const claim = await deps.idempotency.claim(tenantId, key, fingerprint);
    if (claim.kind === 'replay') return { ...NOTHING, replay: claim.body };
    claimed = claim.kind === 'first';
  }
  const plan: CachePlan = await deps.cache.plan({
    tenantId,
    capability,
    model,
    body,
    cacheControl: request.headers['cache-control'],
  });
  const lookup: Lookup | null =
    plan.kind === 'use' ? await deps.cache.lookup(plan, capability) : null;
  const outcome = plan.kind === 'off' ? null : (lookup?.kind ?? plan.kind);
  const hit = lookup?.kind === 'hit' ? lookup : null;
  const writes = plan.kind === 'use' && lookup?.kind === 'miss';
  const keyOf = key;
  const keep = (entry: CacheEntry) => {
    if (claimed && keyOf !== null)
      deps.idempotency.finish(tenantId, keyOf, fingerprint, entry.body);
  };
  return {
    replay: null,
    hit,
    headers: {
      ...(outcome !== null && { [CACHE_HEADER]: outcome }),
      ...(hit !== null && { age: String(hit.ageSeconds) }),
    },
    wantsAnswer: writes || claimed,
    answered(entry) {
      if (writes) deps.cache.store(plan, entry);
      keep(entry);
    },
    keep,
    failed() {
      if (claimed && keyOf !== null) deps.idempotency.release(tenantId, keyOf);
    },
  };
}

/** A stored answer in the shape the request asks for: JSON, or an SSE stream. */
export function storedAnswer(
  capability: Capability,
  body: JsonObject,
  answer: JsonObject,
): { body: JsonObject } | { frames: string[] } {
  if (capability === 'embeddings' || body.stream !== true) return { body: answer };
  const options = body.stream_options;
  const includeUsage =
    options !== null &&
    typeof options === 'object' &&
    (options as Record<string, unknown>).include_usage === true;
  return { frames: answerAsSse(capability, answer, includeUsage) };
}

/** Passes a stream's frames on, putting the answer together on the way. */
export async function* assembling(
  events: AsyncGenerator<string>,
  assembler: StreamAssembler,
): AsyncGenerator<string> {
  for await (const frame of events) {
    assembler.add(frame);
    yield frame;
  }
}

export { StreamAssembler };
