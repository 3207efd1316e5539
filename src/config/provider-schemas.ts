import { type Static, Type } from '@sinclair/typebox';

const Timeouts = Type.Object(
  {
    connect_ms: Type.Optional(Type.Integer({ minimum: 1 })),
    first_byte_ms: Type.Optional(Type.Integer({ minimum: 1 })),
    idle_ms: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

/**
 * Types that speak OpenAI's wire format, with the base URL each defaults to (null: the file
 * must give one). They differ only in that default, so users write the name they know.
 */
export const OPENAI_COMPATIBLE_TYPES = {
  openai: 'https://api.openai.com/v1',
  'openai-compatible': null,
  vllm: null,
  ollama: 'http://127.0.0.1:11434/v1',
  llamacpp: 'http://127.0.0.1:8080/v1',
  lmstudio: 'http://127.0.0.1:1234/v1',
  groq: 'https://api.groq.com/openai/v1',
  together: 'https://api.together.xyz/v1',
  mistral: 'https://api.mistral.ai/v1',
  deepseek: 'https://api.deepseek.com/v1',
  openrouter: 'https://openrouter.ai/api/v1',
} as const satisfies Record<string, string | null>;

type OpenAICompatibleType = keyof typeof OPENAI_COMPATIBLE_TYPES;
const openAICompatibleTypes = Object.keys(OPENAI_COMPATIBLE_TYPES) as OpenAICompatibleType[];

/** What every provider reached over HTTP with a key shares. */
const httpFields = {
  base_url: Type.Optional(Type.String({ minLength: 1 })),
  /** Name of the environment variable (or NAME_FILE) that holds the API key. */
  api_key_env: Type.Optional(Type.String({ minLength: 1 })),
  /** Tenants may store their own key for this provider (bring your own key). */
  tenant_keys: Type.Boolean({ default: false }),
  headers: Type.Optional(Type.Record(Type.String(), Type.String())),
  max_connections: Type.Integer({ minimum: 1, default: 256 }),
  timeouts: Type.Optional(Timeouts),
};

const OpenAICompatibleProvider = Type.Object(
  {
    type: Type.Union(openAICompatibleTypes.map((type) => Type.Literal(type))),
    ...httpFields,
    /** `/v1/responses` goes to the upstream's own Responses API instead of chat completions. */
    responses_api: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);

const AzureOpenAIProvider = Type.Object(
  {
    type: Type.Literal('azure-openai'),
    ...httpFields,
    /** `/v1/responses` goes to the upstream's own Responses API instead of chat completions. */
    responses_api: Type.Boolean({ default: false }),
    api_version: Type.String({ minLength: 1, default: '2024-10-21' }),
  },
  { additionalProperties: false },
);

const AnthropicProvider = Type.Object(
  {
    type: Type.Literal('anthropic'),
    ...httpFields,
    anthropic_version: Type.String({ minLength: 1, default: '2023-06-01' }),
    default_max_tokens: Type.Integer({ minimum: 1, default: 4096 }),
  },
  { additionalProperties: false },
);

const LangChainProvider = Type.Object(
  {
    type: Type.Literal('langchain'),
    /** The npm package exporting the classes, e.g. `@langchain/anthropic`. */
    module: Type.String({ minLength: 1 }),
    chat_class: Type.Optional(Type.String({ minLength: 1 })),
    embeddings_class: Type.Optional(Type.String({ minLength: 1 })),
    /** Passed to the class constructors as they are. */
    options: Type.Record(Type.String(), Type.Unknown(), { default: {} }),
    api_key_env: Type.Optional(Type.String({ minLength: 1 })),
    api_key_option: Type.String({ minLength: 1, default: 'apiKey' }),
    tenant_keys: Type.Boolean({ default: false }),
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

export const providerSchemas: Readonly<
  Record<OpenAICompatibleType, typeof OpenAICompatibleProvider> & {
    'azure-openai': typeof AzureOpenAIProvider;
    anthropic: typeof AnthropicProvider;
    langchain: typeof LangChainProvider;
    mock: typeof MockProvider;
  }
> = {
  ...(Object.fromEntries(
    openAICompatibleTypes.map((type) => [type, OpenAICompatibleProvider]),
  ) as Record<OpenAICompatibleType, typeof OpenAICompatibleProvider>),
  'azure-openai': AzureOpenAIProvider,
  anthropic: AnthropicProvider,
  langchain: LangChainProvider,
  mock: MockProvider,
};

export type OpenAICompatibleEntry = Static<typeof OpenAICompatibleProvider>;
export type AzureOpenAIEntry = Static<typeof AzureOpenAIProvider>;
export type AnthropicEntry = Static<typeof AnthropicProvider>;
export type LangChainEntry = Static<typeof LangChainProvider>;
export type MockEntry = Static<typeof MockProvider>;
export type ProviderEntry =
  | OpenAICompatibleEntry
  | AzureOpenAIEntry
  | AnthropicEntry
  | LangChainEntry
  | MockEntry;
