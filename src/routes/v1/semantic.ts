import type { FastifyRequest } from 'fastify';
import type { ModelConfig } from '../../config/load.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { passThroughTrace } from '../../plugins/tracing.js';
import { publishCallUsage } from '../../plugins/usage-events.js';
import type { JsonObject } from '../../providers/types.js';
import type { CacheEntry } from '../../services/cache/cache-entry.js';
import type { SemanticCaching } from '../../services/cache/semantic-caching.js';
import type { Capability } from '../../services/inference/model-catalog.js';
import type { Admission } from '../../services/limits/limiter.js';
import type { Span } from '../../services/tracing/span.js';
import type { UsageCommitter } from '../../services/usage/usage-commit.js';
import { CACHE_HEADER, type Caching } from './caching.js';

/** A request opts in to the semantic cache with `on`; `off` (or nothing) keeps it out. */
export const SEMANTIC_HEADER = 'x-llm-backend-semantic-cache';
export const SIMILARITY_HEADER = 'x-llm-backend-cache-similarity';

export interface SemanticDeps {
  /** Null where no model can have a semantic cache (a process without one). */
  semantic: SemanticCaching | null;
  usage: UsageCommitter;
}

/** Whether the request asks for the semantic cache; anything but `on` or `off` is refused. */
export function semanticOptIn(request: FastifyRequest): boolean {
  const raw = request.headers[SEMANTIC_HEADER];
  if (raw === undefined) return false;
  const value = typeof raw === 'string' ? raw.trim().toLowerCase() : null;
  if (value === 'on' || value === 'off') return value === 'on';
  throw new GatewayError('invalid_request', {
    message: `The ${SEMANTIC_HEADER} header must be 'on' or 'off'.`,
    param: SEMANTIC_HEADER,
  });
}

/** What the semantic cache makes of a request the exact cache did not answer. */
export interface SemanticStep {
  /** A stored answer similar enough: sent like an exact hit. */
  hit: { entry: CacheEntry; ageSeconds: number; cost: number } | null;
  headers: Record<string, string>;
  /** The request's caching, keeping a miss's fresh answer for the semantic cache too. */
  caching: Caching;
  /** The request's admission, the embedding call's tokens and cost added when it settles. */
  admission: Admission;
}

interface StepInput {
  capability: Capability;
  body: JsonObject;
  model: ModelConfig;
  caching: Caching;
  admission: Admission;
  signal: AbortSignal;
  optIn: boolean;
  /** The lookup's span: the embedding's upstream attempts are its children. */
  trace?: Span;
}

/**
 * Looks the request up in its tenant's semantic cache, when the tenant and model have it on
 * and the request opted in. Runs after admission: the embedding is an upstream call, and a
 * tenant held at its limits makes none. Fails open: any failure is a request without it.
 */
export async function semanticStep(
  deps: SemanticDeps,
  input: StepInput,
  request: FastifyRequest,
): Promise<SemanticStep> {
  const { caching, admission } = input;
  const none: SemanticStep = { hit: null, headers: {}, caching, admission };
  const principal = request.principal;
  const semantic = deps.semantic;
  if (!input.optIn || semantic === null || principal?.kind !== 'tenant') return none;
  try {
    return await lookedUp(semantic, deps.usage, input, request, principal.tenantId);
  } catch (error) {
    // Never the request's failure: it goes on as if there were no semantic cache.
    request.log.warn({ err: error }, 'semantic cache failed');
    return none;
  }
}

async function lookedUp(
  semantic: SemanticCaching,
  usage: UsageCommitter,
  input: StepInput,
  request: FastifyRequest,
  tenantId: string,
): Promise<SemanticStep> {
  const { caching, admission } = input;
  const none: SemanticStep = { hit: null, headers: {}, caching, admission };
  const started = performance.now();
  const lookup = await semantic.lookup({
    tenantId,
    capability: input.capability,
    model: input.model,
    body: input.body,
    call: {
      signal: input.signal,
      requestId: request.id,
      trace: input.trace,
      clientTrace: passThroughTrace(request),
    },
  });
  if (lookup.embedding !== null)
    publishCallUsage(usage, request, lookup.embedding, performance.now() - started);
  const charged = withEmbedding(admission, lookup.embedding);
  if (lookup.outcome === 'skip') {
    if (lookup.error !== undefined)
      request.log.warn({ err: lookup.error, reason: lookup.reason }, 'semantic cache skipped');
    return { ...none, admission: charged };
  }
  if (lookup.outcome === 'hit') {
    const hit = semantic.answer(input.model, lookup.entry);
    return {
      hit,
      headers: {
        [CACHE_HEADER]: 'semantic-hit',
        [SIMILARITY_HEADER]: lookup.similarity.toFixed(4),
        age: String(hit.ageSeconds),
      },
      caching,
      admission: charged,
    };
  }
  const { pending } = lookup;
  return {
    hit: null,
    headers: { [CACHE_HEADER]: 'miss' },
    // Streams assemble their answer for it; stored after the answer, off its path.
    caching: {
      ...caching,
      wantsAnswer: true,
      answered(entry) {
        caching.answered(entry);
        semantic.store(pending, entry);
      },
    },
    admission: charged,
  };
}

/** Settles with the embedding's tokens and cost on top of what the answer used. */
function withEmbedding(
  admission: Admission,
  embedding: { usage: { promptTokens: number; completionTokens: number }; cost: number } | null,
): Admission {
  if (embedding === null) return admission;
  const tokens = embedding.usage.promptTokens + embedding.usage.completionTokens;
  return {
    headers: admission.headers,
    settle: (used) =>
      admission.settle({
        tokens: (used?.tokens ?? 0) + tokens,
        cost: (used?.cost ?? 0) + embedding.cost,
        // A charge budget prices the embedding's tokens as prompt tokens of the answer's model.
        ...(used?.usage && {
          usage: { ...used.usage, promptTokens: used.usage.promptTokens + tokens },
          byok: used.byok ?? false,
        }),
      }),
  };
}
