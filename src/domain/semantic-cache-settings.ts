/**
 * The semantic cache's settings: whether a model's answers may be served again to a request
 * that means the same (by embedding similarity), how similar is similar enough, which model
 * embeds, and how long and how many answers are kept. The config file sets them per model
 * and the tenant per tenant; `resolveSemanticCacheSettings` lays them over the defaults.
 */
export interface SemanticCacheSettings {
  enabled: boolean;
  /** Cosine similarity, 0 to 1, that a stored conversation must reach to answer. */
  threshold: number;
  /** The model that embeds conversations; required once enabled. */
  embeddingModel: string | null;
  ttlSeconds: number;
  /** Entries kept per tenant; the oldest go first. Bounds the exact scan of a lookup. */
  maxEntries: number;
}

/** One layer of settings: what it leaves out comes from the layer below. */
export type SemanticCacheSettingsPatch = Partial<SemanticCacheSettings>;

export const SEMANTIC_CACHE_DEFAULTS: Readonly<SemanticCacheSettings> = Object.freeze({
  enabled: false,
  threshold: 0.95,
  embeddingModel: null,
  ttlSeconds: 3600,
  maxEntries: 2_000,
});

export const SEMANTIC_CACHE_LIMITS = {
  /** 30 days. */
  maxTtlSeconds: 2_592_000,
  maxEntries: 1_000_000,
} as const;

/** Where a value is wrong (`semantic.threshold`) and what to do about it. */
export interface SettingsProblem {
  param: string;
  message: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: SettingsProblem[] };

const wholeIn = (value: unknown, min: number, max: number) =>
  Number.isInteger(value) && (value as number) >= min && (value as number) <= max;

/** The wire form's fields (config file and API): each says what is wrong, or null. */
const FIELDS = {
  enabled: (value: unknown) => (typeof value === 'boolean' ? null : 'must be true or false'),
  threshold: (value: unknown) =>
    typeof value === 'number' && value >= 0 && value <= 1
      ? null
      : 'must be a number from 0 to 1 (cosine similarity; 0.95 is a careful start)',
  embedding_model: (value: unknown) =>
    value === null || (typeof value === 'string' && value.trim() !== '')
      ? null
      : 'must be the name of a model with embeddings, or null',
  ttl_seconds: (value: unknown) =>
    wholeIn(value, 1, SEMANTIC_CACHE_LIMITS.maxTtlSeconds)
      ? null
      : `must be a whole number of seconds from 1 to ${SEMANTIC_CACHE_LIMITS.maxTtlSeconds} (30 days)`,
  max_entries: (value: unknown) =>
    wholeIn(value, 1, SEMANTIC_CACHE_LIMITS.maxEntries)
      ? null
      : `must be a whole number from 1 to ${SEMANTIC_CACHE_LIMITS.maxEntries}`,
} as const;

type WireField = keyof typeof FIELDS;
const WIRE_FIELDS = Object.keys(FIELDS) as WireField[];
const TO_SETTING = {
  enabled: 'enabled',
  threshold: 'threshold',
  embedding_model: 'embeddingModel',
  ttl_seconds: 'ttlSeconds',
  max_entries: 'maxEntries',
} as const satisfies Record<WireField, keyof SemanticCacheSettings>;

/**
 * Reads one layer in its wire form, `{ enabled, threshold, embedding_model, ttl_seconds,
 * max_entries }`, every field optional. Every problem is reported at once, each with its
 * parameter (`at` is the object's own name, `semantic` by default).
 */
export function parseSemanticCacheSettings(
  input: unknown,
  at = 'semantic',
): Parsed<SemanticCacheSettingsPatch> {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    return {
      ok: false,
      problems: [{ param: at, message: `${at} must be an object with ${WIRE_FIELDS.join(', ')}.` }],
    };
  const problems: SettingsProblem[] = [];
  const value: Record<string, unknown> = {};
  for (const [field, raw] of Object.entries(input)) {
    const param = `${at}.${field}`;
    if (!Object.hasOwn(FIELDS, field)) {
      problems.push({
        param,
        message: `${param} is not a setting of the semantic cache; use ${WIRE_FIELDS.join(', ')}.`,
      });
      continue;
    }
    const problem = FIELDS[field as WireField](raw);
    if (problem === null) value[TO_SETTING[field as WireField]] = raw;
    else problems.push({ param, message: `${param} ${problem}.` });
  }
  return problems.length > 0
    ? { ok: false, problems }
    : { ok: true, value: value as SemanticCacheSettingsPatch };
}

/** The defaults, then each layer in turn (the model's, then the tenant's). */
export function resolveSemanticCacheSettings(
  ...layers: readonly (SemanticCacheSettingsPatch | null | undefined)[]
): SemanticCacheSettings {
  const settings: SemanticCacheSettings = { ...SEMANTIC_CACHE_DEFAULTS };
  for (const layer of layers) {
    if (!layer) continue;
    for (const [key, value] of Object.entries(layer))
      if (value !== undefined) Object.assign(settings, { [key]: value });
  }
  return settings;
}

/** Problems of a whole set of settings that no single field shows. */
export function semanticCacheSettingsProblems(
  settings: SemanticCacheSettings,
  at = 'semantic',
): SettingsProblem[] {
  if (settings.enabled && settings.embeddingModel === null)
    return [
      {
        param: `${at}.embedding_model`,
        message: `${at}.embedding_model is required when the semantic cache is enabled: name a model with embeddings.`,
      },
    ];
  return [];
}

/** The wire form, as the API returns it and the config file writes it. */
export function semanticCacheSettingsJson(settings: SemanticCacheSettings) {
  return {
    enabled: settings.enabled,
    threshold: settings.threshold,
    embedding_model: settings.embeddingModel,
    ttl_seconds: settings.ttlSeconds,
    max_entries: settings.maxEntries,
  };
}
