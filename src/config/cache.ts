import { type Static, Type } from '@sinclair/typebox';
import {
  parseSemanticCacheSettings,
  resolveSemanticCacheSettings,
  type SemanticCacheSettingsPatch,
  semanticCacheSettingsProblems,
} from '../domain/semantic-cache-settings.js';
import { checked } from './checked.js';

/** The largest entry anyone may allow: an answer is text, and Redis holds it in memory. */
export const MAX_ENTRY_BYTES = 64 * 1024 * 1024;
/** The longest lifetime anyone may give an entry: 30 days. */
export const MAX_TTL_SECONDS = 30 * 86_400;

const cacheFields = {
  /** Whether answers of the model are cached for tenants that did not say otherwise. */
  enabled: Type.Boolean(),
  /** An entry's lifetime unless the request asks for another (`cache-control: max-age`). */
  ttl_seconds: Type.Integer({ minimum: 1, maximum: MAX_TTL_SECONDS }),
  /** The longest lifetime a request or a tenant may ask for. */
  max_ttl_seconds: Type.Integer({ minimum: 1, maximum: MAX_TTL_SECONDS }),
  /** Answers larger than this (JSON bytes) are not stored. */
  max_entry_bytes: Type.Integer({ minimum: 1, maximum: MAX_ENTRY_BYTES }),
  /** Cache requests that may get a different answer each time (temperature > 0, n > 1). */
  nondeterministic: Type.Boolean(),
  /** What a hit costs the tenant, US dollars per million tokens of the stored answer. */
  price_per_million: Type.Number({ minimum: 0 }),
};

/**
 * A model's `cache`: any field it sets overrides the file's `cache` section. `semantic` is
 * the model's semantic cache, read by its own parser (messages that name the setting).
 */
export const ModelCacheSchema = Type.Partial(
  Type.Object({ ...cacheFields, semantic: Type.Unknown() }, { additionalProperties: false }),
  { additionalProperties: false },
);

/** The file's `cache` section: the defaults of every model, and each tenant's size budget. */
export const CacheSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: false }),
    ttl_seconds: Type.Integer({ minimum: 1, maximum: MAX_TTL_SECONDS, default: 3600 }),
    max_ttl_seconds: Type.Integer({ minimum: 1, maximum: MAX_TTL_SECONDS, default: 86_400 }),
    max_entry_bytes: Type.Integer({ minimum: 1, maximum: MAX_ENTRY_BYTES, default: 1_048_576 }),
    nondeterministic: Type.Boolean({ default: false }),
    price_per_million: Type.Number({ minimum: 0, default: 0 }),
    /** Bytes of entries one tenant may hold unless its settings say otherwise. */
    tenant_budget_bytes: Type.Integer({ minimum: 1, default: 104_857_600 }),
  },
  { additionalProperties: false, default: {} },
);

/** How one model's answers are cached, the file's defaults and the model's own merged. */
export interface ModelCacheConfig {
  enabled: boolean;
  ttlSeconds: number;
  maxTtlSeconds: number;
  maxEntryBytes: number;
  nondeterministic: boolean;
  pricePerMillion: number;
  /** The model's semantic cache settings, over the defaults (off); the tenant's go over them. */
  semantic: SemanticCacheSettingsPatch;
}

export interface CacheConfig {
  /** For a model that sets nothing of its own. */
  defaults: ModelCacheConfig;
  /** By model name, for the models that set a `cache` of their own. */
  models: Readonly<Record<string, ModelCacheConfig>>;
  tenantBudgetBytes: number;
}

type Fields = Partial<Static<typeof ModelCacheSchema>>;

function merged(base: ModelCacheConfig, own: Fields): ModelCacheConfig {
  return {
    enabled: own.enabled ?? base.enabled,
    ttlSeconds: own.ttl_seconds ?? base.ttlSeconds,
    maxTtlSeconds: own.max_ttl_seconds ?? base.maxTtlSeconds,
    maxEntryBytes: own.max_entry_bytes ?? base.maxEntryBytes,
    nondeterministic: own.nondeterministic ?? base.nondeterministic,
    pricePerMillion: own.price_per_million ?? base.pricePerMillion,
    semantic: base.semantic,
  };
}

/**
 * A model's `semantic`: its fields, then as a whole, then its embedding model, which must be
 * one of the file's models with embeddings.
 */
function readSemantic(
  raw: unknown,
  at: string,
  embeddingModels: ReadonlySet<string>,
  errors: string[],
): SemanticCacheSettingsPatch {
  const parsed = parseSemanticCacheSettings(raw);
  const problems = parsed.ok
    ? semanticCacheSettingsProblems(resolveSemanticCacheSettings(parsed.value))
    : parsed.problems;
  const model = parsed.ok ? parsed.value.embeddingModel : null;
  if (problems.length === 0 && model != null && !embeddingModels.has(model))
    problems.push({
      param: 'semantic.embedding_model',
      message: `semantic.embedding_model '${model}' is not a model of this file with embeddings: true.`,
    });
  for (const problem of problems) errors.push(`CONFIG_FILE ${at}: ${problem.message}`);
  return parsed.ok && problems.length === 0 ? parsed.value : {};
}

/** The `cache` section and every model's `cache` (already checked with the model). */
export function readCache(
  raw: unknown,
  models: readonly unknown[],
  errors: string[],
  embeddingModels: ReadonlySet<string> = new Set(),
): CacheConfig {
  const section =
    checked(CacheSchema, raw ?? {}, '/cache', errors) ??
    (checked(CacheSchema, {}, '/cache', []) as Static<typeof CacheSchema>);
  const { tenant_budget_bytes: tenantBudgetBytes, ...fields } = section;
  const defaults = merged(
    {
      enabled: false,
      ttlSeconds: 0,
      maxTtlSeconds: 0,
      maxEntryBytes: 0,
      nondeterministic: false,
      pricePerMillion: 0,
      semantic: {},
    },
    fields,
  );
  const byModel: Record<string, ModelCacheConfig> = {};
  models.forEach((item, index) => {
    if (item === null || typeof item !== 'object') return;
    const { name, cache } = item as { name?: unknown; cache?: Fields };
    if (typeof name !== 'string' || cache === undefined) return;
    const own = merged(defaults, cache);
    if (cache.semantic !== undefined)
      own.semantic = readSemantic(
        cache.semantic,
        `/models/${index}/cache/semantic`,
        embeddingModels,
        errors,
      );
    // An inherited lifetime is held to the model's own maximum; a lifetime it sets must fit.
    if (cache.ttl_seconds === undefined)
      own.ttlSeconds = Math.min(own.ttlSeconds, own.maxTtlSeconds);
    else if (own.ttlSeconds > own.maxTtlSeconds)
      errors.push(
        `CONFIG_FILE /models/${index}/cache/ttl_seconds: longer than max_ttl_seconds (${own.maxTtlSeconds})`,
      );
    byModel[name] = own;
  });
  if (defaults.ttlSeconds > defaults.maxTtlSeconds)
    errors.push(
      `CONFIG_FILE /cache/ttl_seconds: longer than max_ttl_seconds (${defaults.maxTtlSeconds})`,
    );
  return { defaults, models: byModel, tenantBudgetBytes };
}

/** The cache settings of a model by name. */
export function modelCache(config: CacheConfig, model: string): ModelCacheConfig {
  return config.models[model] ?? config.defaults;
}
