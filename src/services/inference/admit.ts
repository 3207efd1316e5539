import type { ModelConfig } from '../../config/load.js';
import type { JsonObject } from '../../providers/types.js';
import type { TenantPrincipal } from '../keys/key-service.js';
import type { Admission, RateLimiter, Used } from '../limits/limiter.js';
import { tokensToReserve } from '../limits/reservation.js';
import type { Capability } from './model-catalog.js';
import type { Usage } from './usage.js';

/**
 * Holds one tenant call to its rate limits, quotas and budgets: a cheap bound first, the
 * exact count only when the bound was refused. The HTTP handler and the batch runner share it.
 */
export function admitCall(
  limiter: RateLimiter,
  call: {
    principal: TenantPrincipal;
    model: ModelConfig;
    capability: Capability;
    body: JsonObject;
    at: Date;
    defaultCompletionTokens: number;
    cacheHit: boolean;
  },
): Promise<Admission> {
  const { capability, body, defaultCompletionTokens } = call;
  return limiter.admit({
    principal: call.principal,
    model: call.model,
    at: call.at,
    reserve: () => tokensToReserve(capability, body, defaultCompletionTokens),
    reserveExactly: () => tokensToReserve(capability, body, defaultCompletionTokens, true),
    cacheHit: call.cacheHit,
  });
}

/** What a call used, as limits and quotas count it (charge budgets price the split). */
export function usedOf(
  usage: Usage | null,
  cost: number | null,
  dedupOf: string | null | undefined,
  byok: boolean,
): Used | null {
  if (usage === null) return null;
  // Served by another request's upstream call: its tokens and cost are that request's.
  if (dedupOf) return { tokens: 0, cost: 0 };
  return { tokens: usage.promptTokens + usage.completionTokens, cost: cost ?? 0, usage, byok };
}
