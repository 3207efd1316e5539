import { readFileSync, statSync } from 'node:fs';
import type { ProviderConfig } from '../providers/types.js';
import { type AlertsConfig, readAlerts } from './alerts.js';
import { type CacheConfig, readCache } from './cache.js';
import { checked } from './checked.js';
import { type DatabaseServerConfig, resolveDatabaseServers } from './database-servers.js';
import { type Env, type EnvConfig, readEnv } from './env.js';
import { type ConfigFile, ConfigFileSchema, TOP_LEVEL_KEYS } from './file-schema.js';
import {
  type ModelConfig,
  type RouterConfig,
  type RoutingConfig,
  readModels,
  readRouters,
  readRouting,
  routingConfigOf,
} from './models.js';
import { type OidcTenantConfig, readOidc } from './oidc.js';
import { checkedProvider, resolveProvider } from './providers.js';
import { readTracing, type TracingConfig } from './tracing.js';
import { parseYaml } from './yaml.js';

export type {
  DeploymentConfig,
  ModelCapabilities,
  ModelConfig,
  ModelPricing,
  RouterConfig,
  RoutingConfig,
  RoutingStrategy,
} from './models.js';

export interface AppConfig {
  env: EnvConfig;
  providers: readonly ProviderConfig[];
  models: readonly ModelConfig[];
  /** Names such as `auto` that pick a model per request. */
  routers: readonly RouterConfig[];
  /** Retries, backoff, circuit breakers and health checks, for every model. */
  routing: RoutingConfig;
  /** The servers of `database_servers`, as configured; none with the embedded databases. */
  databaseServers: readonly DatabaseServerConfig[];
  /** When alert episodes open (the file's `alerts`, defaults otherwise). */
  alerts: AlertsConfig;
  /** The response cache: every model's settings and each tenant's default budget. */
  cache: CacheConfig;
  /** OpenTelemetry traces (the OTEL_* variables); off unless OTEL_TRACES_EXPORTER=otlp. */
  tracing: TracingConfig;
  /** Single sign-on to the admin panel, per tenant (the file's `oidc`); empty: none. */
  oidc: readonly OidcTenantConfig[];
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

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

/**
 * Validates the environment and the config file together, once at start. Throws a
 * ConfigError listing every problem; the result is frozen.
 */
export function loadConfig(env: Env): AppConfig {
  const errors: string[] = [];
  const envConfig = readEnv(env, errors);
  const tracing = readTracing(env, errors);
  const parsed = readConfigFile(envConfig.configFile, errors);
  const providers: ProviderConfig[] = [];
  let models: ModelConfig[] = [];
  let routers: RouterConfig[] = [];
  const routing = readRouting(parsed?.file.routing, errors);
  if (parsed !== null) {
    for (const [id, raw] of Object.entries(parsed.file.providers)) {
      const entry = checkedProvider(id, raw, errors);
      if (entry !== null) providers.push(resolveProvider(id, entry, env, envConfig, errors));
    }
    const ids = new Set(Object.keys(parsed.file.providers));
    models = readModels(parsed.file.models, ids, routing, parsed.created, errors);
    routers = readRouters(parsed.file.routers, models, parsed.created, errors);
  }
  const databaseServers =
    parsed === null
      ? []
      : resolveDatabaseServers(parsed.file.database_servers, env, envConfig, errors);
  const alerts = readAlerts(parsed?.file.alerts, errors);
  const embeddingModels = new Set(
    models.filter((model) => model.capabilities.embeddings).map((model) => model.name),
  );
  const cache = readCache(parsed?.file.cache, parsed?.file.models ?? [], errors, embeddingModels);
  const oidc = readOidc(parsed?.file.oidc, env, errors);
  if (errors.length > 0) throw new ConfigError(errors);
  return Object.freeze({
    alerts: Object.freeze(alerts),
    cache: Object.freeze(cache),
    env: Object.freeze(envConfig),
    providers: Object.freeze(providers),
    models: Object.freeze(models),
    routers: Object.freeze(routers),
    routing: Object.freeze(routingConfigOf(routing)),
    databaseServers: Object.freeze(databaseServers),
    tracing: Object.freeze(tracing),
    oidc: Object.freeze(oidc.map((entry) => Object.freeze(entry))),
  });
}
