import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { ProviderConfig } from '../providers/types.js';
import { type AlertsConfig, readAlerts } from './alerts.js';
import { checked } from './checked.js';
import { type DatabaseServerConfig, resolveDatabaseServers } from './database-servers.js';
import { type Env, type EnvConfig, readEnv, readSecret } from './env.js';
import {
  type ConfigFile,
  ConfigFileSchema,
  type ModelEntry,
  ModelSchema,
  PROVIDER_ID,
  type ProviderEntry,
  providerSchemas,
  TOP_LEVEL_KEYS,
} from './file-schema.js';

export interface ModelCapabilities {
  chat: boolean;
  completions: boolean;
  embeddings: boolean;
  tools: boolean;
  vision: boolean;
  contextWindow: number | null;
}

/** US dollars per million tokens. */
export interface ModelPricing {
  input: number;
  output: number;
  cachedInput: number;
}

export interface ModelConfig {
  /** The public name clients send. */
  name: string;
  providerId: string;
  upstreamModel: string;
  ownedBy: string;
  created: number;
  capabilities: ModelCapabilities;
  pricing: ModelPricing;
}

export interface AppConfig {
  env: EnvConfig;
  providers: readonly ProviderConfig[];
  models: readonly ModelConfig[];
  /** The servers of `database_servers`, as configured; none with the embedded databases. */
  databaseServers: readonly DatabaseServerConfig[];
  /** When alert episodes open (the file's `alerts`, defaults otherwise). */
  alerts: AlertsConfig;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const OPENAI_BASE_URL = 'https://api.openai.com/v1';

function readConfigFile(
  path: string,
  errors: string[],
): { file: ConfigFile; created: number } | null {
  let text: string;
  let created: number;
  try {
    text = readFileSync(path, 'utf8');
    created = Math.floor(statSync(path).mtimeMs / 1000);
  } catch {
    errors.push(`CONFIG_FILE: cannot read ${path}`);
    return null;
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    // Only the position: the parser's message quotes the line, which may hold a secret.
    const position = (error as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    const where = position ? ` (line ${position.line}, column ${position.col})` : '';
    errors.push(`CONFIG_FILE: ${path} is not valid YAML${where}`);
    return null;
  }
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    for (const key of Object.keys(raw)) {
      if (!TOP_LEVEL_KEYS.includes(key))
        errors.push(`CONFIG_FILE /${key}: unknown key (expected ${TOP_LEVEL_KEYS.join(', ')})`);
    }
  }
  const file = checked(ConfigFileSchema, raw ?? {}, '', errors);
  return file === null ? null : { file, created };
}

function checkedProvider(
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
  return checked(providerSchemas[raw.type as keyof typeof providerSchemas], raw, path, errors);
}

function resolveProvider(
  id: string,
  entry: ProviderEntry,
  env: Env,
  envConfig: EnvConfig,
  errors: string[],
): ProviderConfig {
  if (entry.type === 'mock') {
    return {
      id,
      type: 'mock',
      latencyMs: entry.latency_ms,
      tokensPerSecond: entry.tokens_per_second,
      embeddingDimensions: entry.embedding_dimensions,
    };
  }
  const baseUrl = entry.base_url ?? (entry.type === 'openai' ? OPENAI_BASE_URL : undefined);
  if (baseUrl === undefined) {
    errors.push(`CONFIG_FILE /providers/${id}: base_url is required for type '${entry.type}'`);
  } else if (!URL.canParse(baseUrl) || !/^https?:$/.test(new URL(baseUrl).protocol)) {
    errors.push(`CONFIG_FILE /providers/${id}/base_url: must be an http(s) URL`);
  }
  let apiKey: string | null = null;
  if (entry.api_key_env !== undefined) {
    const name = entry.api_key_env;
    const reported = errors.length;
    apiKey = readSecret(env, name, errors) ?? null;
    // A variable set twice or an unreadable file was reported by readSecret already.
    if (apiKey === null && errors.length === reported) {
      errors.push(
        `CONFIG_FILE /providers/${id}/api_key_env: ${name} (or ${name}_FILE) is not set or empty`,
      );
    }
  }
  return {
    id,
    type: 'openai-compatible',
    baseUrl: (baseUrl ?? '').replace(/\/+$/, ''),
    apiKey,
    headers: entry.headers ?? {},
    maxConnections: entry.max_connections ?? 256,
    timeouts: {
      connectMs: entry.timeouts?.connect_ms ?? envConfig.upstreamTimeouts.connectMs,
      firstByteMs: entry.timeouts?.first_byte_ms ?? envConfig.upstreamTimeouts.firstByteMs,
      idleMs: entry.timeouts?.idle_ms ?? envConfig.upstreamTimeouts.idleMs,
    },
  };
}

function resolveModel(entry: ModelEntry, created: number): ModelConfig {
  const { capabilities: c, pricing: p } = entry;
  return {
    name: entry.name,
    providerId: entry.provider,
    upstreamModel: entry.model ?? entry.name,
    ownedBy: entry.owned_by ?? entry.provider,
    created: entry.created ?? created,
    capabilities: {
      chat: c.chat,
      completions: c.completions,
      embeddings: c.embeddings,
      tools: c.tools,
      vision: c.vision,
      contextWindow: c.context_window,
    },
    pricing: { input: p.input, output: p.output, cachedInput: p.cached_input },
  };
}

/**
 * Validates the environment and the config file together, once at start. Throws a
 * ConfigError listing every problem; the result is frozen.
 */
export function loadConfig(env: Env): AppConfig {
  const errors: string[] = [];
  const envConfig = readEnv(env, errors);
  const parsed = readConfigFile(envConfig.configFile, errors);
  const providers: ProviderConfig[] = [];
  const models: ModelConfig[] = [];
  if (parsed !== null) {
    for (const [id, raw] of Object.entries(parsed.file.providers)) {
      const entry = checkedProvider(id, raw, errors);
      if (entry !== null) providers.push(resolveProvider(id, entry, env, envConfig, errors));
    }
    const names = new Set<string>();
    parsed.file.models.forEach((raw, index) => {
      const entry = checked(ModelSchema, raw, `/models/${index}`, errors);
      if (entry === null) return;
      if (!Object.hasOwn(parsed.file.providers, entry.provider)) {
        errors.push(`CONFIG_FILE /models/${index}/provider: unknown provider '${entry.provider}'`);
      }
      if (names.has(entry.name)) {
        errors.push(`CONFIG_FILE /models/${index}/name: duplicate model name '${entry.name}'`);
      }
      names.add(entry.name);
      models.push(resolveModel(entry, parsed.created));
    });
  }
  const databaseServers =
    parsed === null
      ? []
      : resolveDatabaseServers(parsed.file.database_servers, env, envConfig, errors);
  const alerts = readAlerts(parsed?.file.alerts, errors);
  if (errors.length > 0) throw new ConfigError(errors);
  return Object.freeze({
    alerts: Object.freeze(alerts),
    env: Object.freeze(envConfig),
    providers: Object.freeze(providers),
    models: Object.freeze(models),
    databaseServers: Object.freeze(databaseServers),
  });
}
