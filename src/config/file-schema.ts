import { type Static, Type } from '@sinclair/typebox';

const Timeouts = Type.Object(
  {
    connect_ms: Type.Optional(Type.Integer({ minimum: 1 })),
    first_byte_ms: Type.Optional(Type.Integer({ minimum: 1 })),
    idle_ms: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

const OpenAICompatibleProvider = Type.Object(
  {
    type: Type.Union([Type.Literal('openai'), Type.Literal('openai-compatible')]),
    base_url: Type.Optional(Type.String({ minLength: 1 })),
    /** Name of the environment variable (or NAME_FILE) that holds the API key. */
    api_key_env: Type.Optional(Type.String({ minLength: 1 })),
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
    max_connections: Type.Optional(Type.Integer({ minimum: 1, default: 256 })),
    timeouts: Type.Optional(Timeouts),
  },
  { additionalProperties: false },
);

const MockProvider = Type.Object(
  {
    type: Type.Literal('mock'),
    /** Delay before the first token, in milliseconds. */
    latency_ms: Type.Integer({ minimum: 0, default: 0 }),
    /** Streaming speed; 0 sends every token at once. */
    tokens_per_second: Type.Number({ minimum: 0, default: 0 }),
    /** Length of each embedding vector the mock returns. */
    embedding_dimensions: Type.Integer({ minimum: 1, maximum: 4096, default: 16 }),
  },
  { additionalProperties: false },
);

const Capabilities = Type.Object(
  {
    chat: Type.Boolean({ default: true }),
    completions: Type.Boolean({ default: false }),
    embeddings: Type.Boolean({ default: false }),
    tools: Type.Boolean({ default: false }),
    vision: Type.Boolean({ default: false }),
    context_window: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { default: null }),
  },
  { additionalProperties: false, default: {} },
);

/** Prices in US dollars per million tokens. */
const Pricing = Type.Object(
  {
    input: Type.Number({ minimum: 0, default: 0 }),
    output: Type.Number({ minimum: 0, default: 0 }),
    cached_input: Type.Number({ minimum: 0, default: 0 }),
  },
  { additionalProperties: false, default: {} },
);

const Model = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[^\\s]+$' }),
    provider: Type.String({ minLength: 1 }),
    /** The model name sent upstream; defaults to `name`. */
    model: Type.Optional(Type.String({ minLength: 1 })),
    owned_by: Type.Optional(Type.String({ minLength: 1 })),
    created: Type.Optional(Type.Integer({ minimum: 0 })),
    capabilities: Capabilities,
    pricing: Pricing,
  },
  { additionalProperties: false },
);

/**
 * A PostgreSQL server tenant databases may live on. Only the names of the variables holding
 * its URLs are here: the URLs carry passwords, so they stay in the environment (or NAME_FILE).
 */
const DatabaseServer = Type.Object(
  {
    /** A URL to any database on the server; its role creates and drops tenant databases. */
    url_env: Type.Optional(Type.String({ minLength: 1 })),
    /** A URL to a streaming replica of the server, for reads that tolerate lag. */
    replica_url_env: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

/**
 * The file's outline only. Each provider and each model is then checked on its own (see
 * load.ts), so one bad entry does not hide the problems of the others.
 */
export const ConfigFileSchema = Type.Object(
  {
    providers: Type.Record(
      Type.String(),
      Type.Object({ type: Type.String() }, { additionalProperties: true }),
    ),
    models: Type.Array(Type.Unknown()),
    database_servers: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    alerts: Type.Optional(Type.Unknown()),
  },
  // Unknown top-level keys are reported by load.ts without stopping the other checks.
  { additionalProperties: true },
);

export const TOP_LEVEL_KEYS = ['providers', 'models', 'database_servers', 'alerts'];

export const PROVIDER_ID = /^[a-z0-9][a-z0-9_-]*$/;

export const DATABASE_SERVER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export { DatabaseServer as DatabaseServerSchema, Model as ModelSchema };

export const providerSchemas = {
  openai: OpenAICompatibleProvider,
  'openai-compatible': OpenAICompatibleProvider,
  mock: MockProvider,
} as const;

export type ConfigFile = Static<typeof ConfigFileSchema>;
export type ProviderEntry = Static<typeof OpenAICompatibleProvider> | Static<typeof MockProvider>;
export type ModelEntry = Static<typeof Model>;
