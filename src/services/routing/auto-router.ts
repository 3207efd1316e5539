import type { ModelConfig, RouterConfig } from '../../config/load.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { JsonObject } from '../../providers/types.js';
import { estimatePrompt } from '../inference/estimate.js';
import {
  type Allowed,
  type Capability,
  type ModelCatalog,
  modelNotFound,
  unsupported,
} from '../inference/model-catalog.js';
import { estimatedCost, type Requirements, requirementsOf, unmetNeed } from './requirements.js';

/**
 * The cheapest of a router's candidates that meets what the request needs. Ties go to the
 * one listed first.
 */
export function chooseModel(
  router: RouterConfig,
  candidates: readonly ModelConfig[],
  needs: Requirements,
  latencyOf: (model: string) => number | null,
): ModelConfig {
  const bounded = { ...needs, maxLatencyMs: needs.maxLatencyMs ?? router.maxLatencyMs };
  let best: { model: ModelConfig; cost: number } | null = null;
  let lastUnmet = 'none';
  for (const model of candidates) {
    const unmet = unmetNeed(model, bounded, latencyOf(model.name));
    if (unmet !== null) {
      lastUnmet = unmet;
      continue;
    }
    const cost = estimatedCost(model, bounded);
    if (best === null || cost < best.cost) best = { model, cost };
  }
  if (best !== null) return best.model;
  throw new GatewayError('no_suitable_model', {
    message: `No model available to '${router.name}' meets the needs of this request (${lastUnmet}).`,
    param: 'model',
  });
}

export interface ResolveOptions {
  allowed: Allowed;
  /** The caller's latency bound for routers; null for the router's own. */
  maxLatencyMs: number | null;
}

/**
 * Turns the name a request sends into the model that serves it: a model by its name, or a
 * router's choice. Resolved once per request, before limits are checked.
 */
export class ModelResolver {
  constructor(
    private readonly catalog: ModelCatalog,
    private readonly latencyOf: (model: string) => number | null,
  ) {}

  async resolve(
    capability: Capability,
    body: JsonObject,
    options: ResolveOptions,
  ): Promise<ModelConfig> {
    const name = String(body.model);
    const router = this.catalog.router(name);
    if (router === undefined) return this.catalog.resolve(name, capability, options.allowed);
    const candidates = this.catalog.candidates(router, options.allowed);
    if (candidates.length === 0) throw modelNotFound(name);
    if (capability !== 'chat') throw unsupported(name, capability);
    const needs = requirementsOf(body, await estimatePrompt('chat', body), options.maxLatencyMs);
    return chooseModel(router, candidates, needs, this.latencyOf);
  }
}
