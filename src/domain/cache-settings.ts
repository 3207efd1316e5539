import { type EntityKind, iso } from './entity.js';

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
  /** Null while the tenant never set anything. */
  updatedAt: Date | null;
}

export const NO_CACHE_SETTINGS: CacheSettings = {
  enabled: null,
  ttlSeconds: null,
  maxEntryBytes: null,
  budgetBytes: null,
  allowNondeterministic: null,
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
    updated_at: iso(settings.updatedAt),
  };
}

/** The settings are one object per tenant: its audit entries name the tenant's cache. */
export const CACHE_SETTINGS: EntityKind<CacheSettings> = {
  object: 'cache_settings',
  id: () => 'cache',
  json: cacheSettingsJson,
};
