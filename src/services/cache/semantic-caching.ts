import { type CacheConfig, modelCache } from '../../config/cache.js';
import type { ModelConfig } from '../../config/load.js';
import type { CacheSettings } from '../../domain/cache-settings.js';
import { resolveSemanticCacheSettings } from '../../domain/semantic-cache-settings.js';
import type { JsonObject } from '../../providers/types.js';
import type { SemanticCacheEntry } from '../../storage/repositories/semantic-cache.js';
import type { InferenceCall } from '../inference/inference-service.js';
import type { Capability } from '../inference/model-catalog.js';
import { costOf } from '../usage/cost.js';
import type { CacheEntry } from './cache-entry.js';
import { hitCost } from './response-cache.js';
import type { PendingEntry, SemanticCache, SemanticLookup } from './semantic-cache.js';

export interface SemanticCachingOptions {
  cache: Pick<SemanticCache, 'lookup' | 'store'>;
  /** The tenant's own settings (cached in memory). */
  settings: (tenantId: string) => Promise<CacheSettings>;
  config: CacheConfig;
  /** A store that failed: logged; the answer was sent regardless. */
  onError: (error: unknown) => void;
  /** Told of every lookup's outcome (for the metrics). */
  onOutcome?: (outcome: SemanticLookup['outcome'], tenantId: string) => void;
  clock?: () => number;
}

export interface SemanticCachingRequest {
  tenantId: string;
  capability: Capability;
  model: ModelConfig;
  body: JsonObject;
  call: Pick<InferenceCall, 'signal' | 'requestId'>;
}

/**
 * The semantic cache on the request path: the settings of the model (config file) under the
 * tenant's, the lookup, a hit as the exact cache's entry shape with its price and savings,
 * and the store of a miss's answer off the response's path.
 */
export class SemanticCaching {
  private readonly clock: () => number;

  constructor(private readonly options: SemanticCachingOptions) {
    this.clock = options.clock ?? Date.now;
  }

  async lookup(request: SemanticCachingRequest): Promise<SemanticLookup> {
    const { tenantId, model } = request;
    let tenant: CacheSettings;
    try {
      tenant = await this.options.settings(tenantId);
    } catch (error) {
      return { outcome: 'skip', reason: 'unavailable', error, embedding: null };
    }
    const own = modelCache(this.options.config, model.name).semantic;
    const settings = resolveSemanticCacheSettings(own, tenant.semantic);
    const lookup = await this.options.cache.lookup({ ...request, model: model.name, settings });
    // Requests it does not apply to are not outcomes: only what a lookup was tried for.
    if (!(lookup.outcome === 'skip' && lookup.reason === 'disabled'))
      this.options.onOutcome?.(lookup.outcome, tenantId);
    return lookup;
  }

  /**
   * A stored answer as a hit: at the cache price, saving what the model's first deployment
   * charges for it (the entry does not keep which deployment served it).
   */
  answer(model: ModelConfig, stored: SemanticCacheEntry) {
    const { pricePerMillion } = modelCache(this.options.config, model.name);
    const deployment = model.deployments[0];
    const saved = deployment === undefined ? 0 : costOf(stored.usage, deployment.pricing);
    const entry: CacheEntry = {
      body: stored.response,
      usage: stored.usage,
      model: stored.model,
      provider: deployment?.providerId ?? '',
      deployment: deployment?.id ?? '',
      cost: saved,
    };
    const ageSeconds = Math.max(0, Math.floor((this.clock() - stored.createdAt.getTime()) / 1000));
    return { entry, ageSeconds, cost: hitCost(stored.usage, pricePerMillion) };
  }

  /** Keeps a miss's answer, off the response's path. */
  store(pending: PendingEntry, entry: CacheEntry): void {
    this.options.cache.store(pending, entry.body, entry.usage).catch(this.options.onError);
  }
}
