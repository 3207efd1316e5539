import { type CacheConfig, modelCache } from '../../config/cache.js';
import type { ModelConfig } from '../../config/load.js';
import type { CacheSettings } from '../../domain/cache-settings.js';
import type { JsonObject } from '../../providers/types.js';
import { withDeadline } from '../../utils/deadline.js';
import type { Capability } from '../inference/model-catalog.js';
import type { Usage } from '../inference/usage.js';
import { cacheDirectives } from './cache-control.js';
import { type CacheEntry, decodeEntry, encodeEntry } from './cache-entry.js';
import { isDeterministic, requestKey } from './request-key.js';
import { type ResponseStore, sizeOf } from './store.js';

export type CacheOutcome = 'hit' | 'miss' | 'bypass';

/** What caching does for one request; `off` when neither its tenant nor its model caches. */
export type CachePlan =
  | { kind: 'off' }
  | { kind: 'bypass' }
  | {
      kind: 'use';
      tenantId: string;
      key: string;
      read: boolean;
      ttlMs: number;
      maxEntryBytes: number;
      budgetBytes: number;
      pricePerMillion: number;
    };

export type Lookup =
  | { kind: 'hit'; entry: CacheEntry; ageSeconds: number; cost: number }
  | { kind: 'miss' }
  | { kind: 'bypass' };

export interface ResponseCacheOptions {
  store: ResponseStore;
  /** The tenant's own settings (cached in memory). */
  settings: (tenantId: string) => Promise<CacheSettings>;
  config: CacheConfig;
  /** The longest a store call may take before the request goes on without the cache. */
  timeoutMs: number;
  /** Told of every request caching applied to (for the metrics). */
  onOutcome: (outcome: CacheOutcome, tenantId: string, capability: Capability) => void;
  /** A store call that failed or stalled: logged; the request went on without the cache. */
  onError: (error: unknown) => void;
  clock?: () => number;
}

export interface CacheRequest {
  tenantId: string;
  capability: Capability;
  model: ModelConfig;
  body: JsonObject;
  cacheControl: string | string[] | undefined;
}

/** What a hit costs: the configured cache price per million tokens of the stored answer. */
export function hitCost(usage: Usage, pricePerMillion: number): number {
  const perMillion = (usage.promptTokens + usage.completionTokens) * pricePerMillion;
  return Math.round(perMillion * 1e4) / 1e10;
}

/**
 * The exact response cache: whether a request may be answered from (and stored in) its
 * tenant's cache, the lookup, and the store after a fresh answer. Never fails a request: a
 * store that errs or stalls (bounded by `timeoutMs`) means no cache for that request.
 */
export class ResponseCache {
  private readonly clock: () => number;

  constructor(private readonly options: ResponseCacheOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** Whether caching applies: the tenant's settings over the model's, the determinism rule, the headers. */
  async plan(request: CacheRequest): Promise<CachePlan> {
    const { tenantId, capability, model, body } = request;
    let settings: CacheSettings;
    try {
      settings = await this.options.settings(tenantId);
    } catch (error) {
      this.options.onError(error);
      return { kind: 'off' };
    }
    const own = modelCache(this.options.config, model.name);
    if (!(settings.enabled ?? own.enabled)) return { kind: 'off' };
    const directives = cacheDirectives(request.cacheControl);
    const mayVary = !(settings.allowNondeterministic ?? own.nondeterministic);
    if (directives.noStore || (mayVary && !isDeterministic(capability, body)))
      return this.counted({ kind: 'bypass' }, tenantId, capability);
    const maxTtl = own.maxTtlSeconds;
    const ttl = Math.min(directives.maxAge ?? settings.ttlSeconds ?? own.ttlSeconds, maxTtl);
    return {
      kind: 'use',
      tenantId,
      key: requestKey({ tenantId, capability, model: model.name, body }),
      read: !directives.noCache,
      ttlMs: ttl * 1000,
      maxEntryBytes: settings.maxEntryBytes ?? own.maxEntryBytes,
      budgetBytes: settings.budgetBytes ?? this.options.config.tenantBudgetBytes,
      pricePerMillion: own.pricePerMillion,
    };
  }

  private counted<T extends { kind: CacheOutcome }>(
    result: T,
    tenantId: string,
    capability: Capability,
  ): T {
    this.options.onOutcome(result.kind, tenantId, capability);
    return result;
  }

  /** The stored answer, if any; a damaged entry is a miss (and the fresh answer replaces it). */
  async lookup(plan: Extract<CachePlan, { kind: 'use' }>, capability: Capability): Promise<Lookup> {
    if (!plan.read) return this.counted({ kind: 'miss' }, plan.tenantId, capability);
    const { store, timeoutMs } = this.options;
    let found: Awaited<ReturnType<ResponseStore['get']>>;
    try {
      found = await withDeadline(store.get(plan.tenantId, plan.key), timeoutMs);
    } catch (error) {
      this.options.onError(error);
      return this.counted({ kind: 'bypass' }, plan.tenantId, capability);
    }
    const entry = found === null ? null : decodeEntry(found.value);
    const outcome = entry === null ? 'miss' : 'hit';
    store.count(plan.tenantId, outcome).catch(this.options.onError);
    if (entry === null || found === null)
      return this.counted({ kind: 'miss' }, plan.tenantId, capability);
    const ageSeconds = Math.max(0, Math.floor((this.clock() - found.storedAt) / 1000));
    const cost = hitCost(entry.usage, plan.pricePerMillion);
    return this.counted({ kind: 'hit', entry, ageSeconds, cost }, plan.tenantId, capability);
  }

  /** Stores a fresh answer, off the response's path; too large an answer is not stored. */
  store(plan: Extract<CachePlan, { kind: 'use' }>, entry: CacheEntry): void {
    const text = encodeEntry(entry);
    if (sizeOf(text) > plan.maxEntryBytes) return;
    const { store, timeoutMs } = this.options;
    const stored = store.put(plan.tenantId, plan.key, text, {
      ttlMs: plan.ttlMs,
      budgetBytes: plan.budgetBytes,
    });
    withDeadline(stored, Math.max(timeoutMs, 1000)).catch(this.options.onError);
  }
}
