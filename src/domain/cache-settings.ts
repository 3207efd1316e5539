import { type EntityKind, iso } from './entity.js';
import {
  type SemanticCacheSettingsPatch,
  semanticCacheSettingsJson,
} from './semantic-cache-settings.js';

/**
 * A tenant's response cache settings. A null field is not set by the tenant: the model's
 * setting (config file), else the platform's, applies.
 */
export interface CacheSettings {
  enabled: boolean | null;
  ttlSeconds: number | null;
  maxEntryBytes: number | null;
  budgetBytes: number | null;
  allowNondeterministic: boolean | null;
  /** The semantic cache's settings the tenant set, over the model's; null: none. */
  semantic: SemanticCacheSettingsPatch | null;
  /** Null while the tenant never set anything. */
  updatedAt: Date | null;
}

export const NO_CACHE_SETTINGS: CacheSettings = {
  enabled: null,
  ttlSeconds: null,
  maxEntryBytes: null,
  budgetBytes: null,
  allowNondeterministic: null,
  semantic: null,
  updatedAt: null,
};

export function cacheSettingsJson(settings: CacheSettings) {
  return {
    object: 'cache_settings' as const,
    enabled: settings.enabled,
    ttl_seconds: settings.ttlSeconds,
    max_entry_bytes: settings.maxEntryBytes,
    budget_bytes: settings.budgetBytes,
    allow_nondeterministic: settings.allowNondeterministic,
    semantic: settings.semantic === null ? null : semanticPatchJson(settings.semantic),
    updated_at: iso(settings.updatedAt),
  };
}

/** The settings are one object per tenant: its audit entries name the tenant's cache. */
export const CACHE_SETTINGS: EntityKind<CacheSettings> = {
  object: 'cache_settings',
  id: () => 'cache',
  json: cacheSettingsJson,
};

/** The fields a layer of semantic settings sets, in their wire form; the others left out. */
export function semanticPatchJson(patch: SemanticCacheSettingsPatch): Record<string, unknown> {
  const all: Record<string, unknown> = semanticCacheSettingsJson({
    enabled: false,
    threshold: 0,
    embeddingModel: null,
    ttlSeconds: 0,
    maxEntries: 0,
    ...patch,
  });
  const set = new Set(Object.keys(patch).map(wireName));
  return Object.fromEntries(Object.entries(all).filter(([field]) => set.has(field)));
}

const wireName = (key: string) => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
