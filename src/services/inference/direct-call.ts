import type { ModelConfig, ModelPricing } from '../../config/load.js';
import type { JsonObject } from '../../providers/types.js';
import type { TenantPrincipal } from '../keys/key-service.js';
import type { RateLimiter } from '../limits/limiter.js';
import type { ModelResolver } from '../routing/auto-router.js';
import { costOf } from '../usage/cost.js';
import { admitCall, usedOf } from './admit.js';
import type { InferenceCall, InferenceResult } from './inference-service.js';
import type { Capability } from './model-catalog.js';
import { permits } from './model-catalog.js';

export interface DirectCallDeps {
  inference: { complete(...args: Parameters<Complete>): ReturnType<Complete> };
  resolver: ModelResolver;
  limiter: RateLimiter;
  /** Completion tokens reserved against token limits when a request sets no max_tokens. */
  defaultCompletionTokens: number;
}

type Complete = (
  capability: Capability,
  body: JsonObject,
  call: InferenceCall,
  model: ModelConfig,
) => Promise<InferenceResult>;

export interface DirectCall {
  principal: TenantPrincipal;
  capability: Capability;
  body: JsonObject;
  requestId: string;
  /** When the call started: the period its usage and limits belong to. */
  at: Date;
  signal: AbortSignal;
  /** The prices the call is charged at, from the deployment's (the batch prices). */
  pricing: (deployment: ModelPricing) => ModelPricing;
}

export interface DirectAnswer extends InferenceResult {
  /** What it cost at `pricing`; 0 when the tenant's own provider key paid. */
  cost: number;
}

/**
 * One tenant call without HTTP, for work that is not a request (Batch API lines): the model
 * resolved within what the caller may use, admitted through the same limits, quotas and
 * budgets as a request, answered whole (no stream) and settled with what it used.
 */
export async function callModel(deps: DirectCallDeps, call: DirectCall): Promise<DirectAnswer> {
  const { principal, capability, body } = call;
  const allowed = principal.allowedModels;
  const model = await deps.resolver.resolve(capability, body, { allowed, maxLatencyMs: null });
  const admission = await admitCall(deps.limiter, {
    principal,
    model,
    capability,
    body,
    at: call.at,
    defaultCompletionTokens: deps.defaultCompletionTokens,
    cacheHit: false,
  });
  let result: InferenceResult;
  try {
    result = await deps.inference.complete(
      capability,
      body,
      {
        signal: call.signal,
        requestId: call.requestId,
        tenantId: principal.tenantId,
        mayUse: (candidate) => permits(allowed, candidate.name),
      },
      model,
    );
  } catch (error) {
    await admission.settle(null);
    throw error;
  }
  const cost = result.byok ? 0 : costOf(result.usage, call.pricing(result.deployment.pricing));
  await admission.settle(usedOf(result.usage, cost, null, result.byok));
  return { ...result, cost };
}
