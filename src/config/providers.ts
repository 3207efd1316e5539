import type { HttpProviderSettings, ProviderConfig } from '../providers/types.js';
import { checked } from './checked.js';
import { type Env, type EnvConfig, readSecret } from './env.js';
import {
  type AnthropicEntry,
  type AzureOpenAIEntry,
  type LangChainEntry,
  OPENAI_COMPATIBLE_TYPES,
  type OpenAICompatibleEntry,
  type ProviderEntry,
  providerSchemas,
} from './provider-schemas.js';

export const PROVIDER_ID = /^[a-z0-9][a-z0-9_-]*$/;

const ANTHROPIC_BASE_URL = 'https://api.anthropic.com';

/** The path the adapter appends to base_url; a base_url that already ends in it is a mistake. */
const PATH_ADDED_BY: Readonly<Record<string, string>> = {
  anthropic: '/v1',
  'azure-openai': '/openai',
};

interface Context {
  id: string;
  env: Env;
  envConfig: EnvConfig;
  errors: string[];
}

/** One provider entry of the file, checked against the schema of its type. */
export function checkedProvider(
  id: string,
  raw: { type: string },
  errors: string[],
): ProviderEntry | null {
  const path = `/providers/${id}`;
  if (!PROVIDER_ID.test(id)) {
    errors.push(`CONFIG_FILE ${path}: provider ids must match ${PROVIDER_ID.source}`);
    return null;
  }
  if (!Object.hasOwn(providerSchemas, raw.type)) {
    errors.push(
      `CONFIG_FILE ${path}/type: unknown provider type '${raw.type}' (expected one of ${Object.keys(providerSchemas).join(', ')})`,
    );
    return null;
  }
  const schema = providerSchemas[raw.type as keyof typeof providerSchemas];
  return checked(schema, raw, path, errors) as ProviderEntry | null;
}

function apiKeyOf(entry: { api_key_env?: string }, ctx: Context): string | null {
  if (entry.api_key_env === undefined) return null;
  const name = entry.api_key_env;
  const reported = ctx.errors.length;
  const apiKey = readSecret(ctx.env, name, ctx.errors) ?? null;
  // A variable set twice or an unreadable file was reported by readSecret already.
  if (apiKey === null && ctx.errors.length === reported) {
    ctx.errors.push(
      `CONFIG_FILE /providers/${ctx.id}/api_key_env: ${name} (or ${name}_FILE) is not set or empty`,
    );
  }
  return apiKey;
}

function httpSettings(
  entry: OpenAICompatibleEntry | AzureOpenAIEntry | AnthropicEntry,
  defaultBaseUrl: string | null,
  ctx: Context,
): HttpProviderSettings {
  const baseUrl = entry.base_url ?? defaultBaseUrl;
  if (baseUrl === null) {
    ctx.errors.push(
      `CONFIG_FILE /providers/${ctx.id}: base_url is required for type '${entry.type}'`,
    );
  } else if (!URL.canParse(baseUrl) || !/^https?:$/.test(new URL(baseUrl).protocol)) {
    ctx.errors.push(`CONFIG_FILE /providers/${ctx.id}/base_url: must be an http(s) URL`);
  }
  const trimmed = (baseUrl ?? '').replace(/\/+$/, '');
  const suffix = PATH_ADDED_BY[entry.type];
  if (suffix !== undefined && trimmed.endsWith(suffix)) {
    ctx.errors.push(
      `CONFIG_FILE /providers/${ctx.id}/base_url: leave out ${suffix}, which the gateway adds itself`,
    );
  }
  const { upstreamTimeouts } = ctx.envConfig;
  return {
    id: ctx.id,
    baseUrl: trimmed,
    apiKey: apiKeyOf(entry, ctx),
    tenantKeys: entry.tenant_keys,
    headers: entry.headers ?? {},
    maxConnections: entry.max_connections,
    timeouts: {
      connectMs: entry.timeouts?.connect_ms ?? upstreamTimeouts.connectMs,
      firstByteMs: entry.timeouts?.first_byte_ms ?? upstreamTimeouts.firstByteMs,
      idleMs: entry.timeouts?.idle_ms ?? upstreamTimeouts.idleMs,
    },
  };
}

function langChain(entry: LangChainEntry, ctx: Context): ProviderConfig {
  if (entry.chat_class === undefined && entry.embeddings_class === undefined) {
    ctx.errors.push(
      `CONFIG_FILE /providers/${ctx.id}: a langchain provider needs chat_class, embeddings_class or both`,
    );
  }
  return {
    id: ctx.id,
    type: 'langchain',
    module: entry.module,
    chatClass: entry.chat_class ?? null,
    embeddingsClass: entry.embeddings_class ?? null,
    options: entry.options,
    apiKey: apiKeyOf(entry, ctx),
    apiKeyOption: entry.api_key_option,
    tenantKeys: entry.tenant_keys,
  };
}

/** The provider as the registry builds it, with secrets read from the environment. */
export function resolveProvider(
  id: string,
  entry: ProviderEntry,
  env: Env,
  envConfig: EnvConfig,
  errors: string[],
): ProviderConfig {
  const ctx = { id, env, envConfig, errors };
  switch (entry.type) {
    case 'mock':
      return {
        id,
        type: 'mock',
        latencyMs: entry.latency_ms,
        tokensPerSecond: entry.tokens_per_second,
        embeddingDimensions: entry.embedding_dimensions,
      };
    case 'langchain':
      return langChain(entry, ctx);
    case 'azure-openai':
      return {
        ...httpSettings(entry, null, ctx),
        type: 'azure-openai',
        apiVersion: entry.api_version,
        responsesApi: entry.responses_api,
      };
    case 'anthropic':
      return {
        ...httpSettings(entry, ANTHROPIC_BASE_URL, ctx),
        type: 'anthropic',
        version: entry.anthropic_version,
        defaultMaxTokens: entry.default_max_tokens,
      };
    default:
      return {
        ...httpSettings(entry, OPENAI_COMPATIBLE_TYPES[entry.type], ctx),
        type: 'openai-compatible',
        responsesApi: entry.responses_api,
      };
  }
}
