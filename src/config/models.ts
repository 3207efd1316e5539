import { checked } from './checked.js';
import {
  type DeploymentEntry,
  type ModelEntry,
  ModelSchema,
  type RouterEntry,
  RouterSchema,
  type RoutingEntry,
  RoutingSchema,
  type STRATEGIES,
} from './model-schemas.js';

export type RoutingStrategy = (typeof STRATEGIES)[number];

export interface ModelCapabilities {
  chat: boolean;
  completions: boolean;
  embeddings: boolean;
  tools: boolean;
  vision: boolean;
  jsonMode: boolean;
  contextWindow: number | null;
}

/** US dollars per million tokens. */
export interface ModelPricing {
  input: number;
  output: number;
  cachedInput: number;
  /** The Batch API's prices (half the normal ones unless configured). */
  batch?: { input: number; output: number; cachedInput: number };
}

export interface DeploymentConfig {
  /** Unique within its model. */
  id: string;
  providerId: string;
  upstreamModel: string;
  weight: number;
  priority: number;
  region: string | null;
  requestsPerMinute: number | null;
  tokensPerMinute: number | null;
  pricing: ModelPricing;
}

export interface ModelRouting {
  strategy: RoutingStrategy;
  retries: number;
  fallbacks: readonly string[];
  contextWindowFallbacks: readonly string[];
}

export interface ModelConfig {
  /** The public name clients send. */
  name: string;
  deployments: readonly DeploymentConfig[];
  routing: ModelRouting;
  ownedBy: string;
  created: number;
  capabilities: ModelCapabilities;
  /** What limits and quotas reserve against; each deployment may cost differently. */
  pricing: ModelPricing;
}

export interface RoutingConfig {
  backoffBaseMs: number;
  backoffMaxMs: number;
  maxRetryAfterMs: number;
  circuitBreaker: { failureThreshold: number; cooldownMs: number };
  healthCheckIntervalMs: number;
}

export interface RouterConfig {
  name: string;
  /** Candidate model names; null for every chat model. */
  models: readonly string[] | null;
  maxLatencyMs: number | null;
  created: number;
}

interface PricingEntry {
  input: number;
  output: number;
  cached_input: number;
  batch?: { input?: number; output?: number; cached_input?: number };
}

function pricingOf(p: PricingEntry): ModelPricing {
  const batch = {
    input: p.batch?.input ?? p.input / 2,
    output: p.batch?.output ?? p.output / 2,
    cachedInput: p.batch?.cached_input ?? p.cached_input / 2,
  };
  return { input: p.input, output: p.output, cachedInput: p.cached_input, batch };
}

function deploymentsOf(entry: ModelEntry, path: string, errors: string[]): DeploymentConfig[] {
  const given: DeploymentEntry[] = entry.deployments ?? [];
  if ((entry.provider === undefined) === (entry.deployments === undefined)) {
    errors.push(`CONFIG_FILE ${path}: give either provider (one deployment) or deployments`);
  } else if (entry.provider !== undefined) {
    given.push({ provider: entry.provider, model: entry.model, weight: 1, priority: 0 });
  } else if (entry.model !== undefined) {
    errors.push(`CONFIG_FILE ${path}/model: set model on each deployment instead`);
  }
  const ids = new Set<string>();
  return given.map((d, index) => {
    const id = d.id ?? d.provider;
    if (ids.has(id)) {
      errors.push(
        `CONFIG_FILE ${path}/deployments/${index}/id: duplicate deployment id '${id}' (give each deployment of one provider its own id)`,
      );
    }
    ids.add(id);
    return {
      id,
      providerId: d.provider,
      upstreamModel: d.model ?? entry.model ?? entry.name,
      weight: d.weight,
      priority: d.priority,
      region: d.region ?? null,
      requestsPerMinute: d.requests_per_minute ?? null,
      tokensPerMinute: d.tokens_per_minute ?? null,
      pricing: pricingOf({ ...entry.pricing, ...d.pricing }),
    };
  });
}

function resolveModel(
  entry: ModelEntry,
  defaults: RoutingEntry,
  created: number,
  path: string,
  errors: string[],
): ModelConfig {
  const { capabilities: c } = entry;
  const deployments = deploymentsOf(entry, path, errors);
  return {
    name: entry.name,
    deployments,
    routing: {
      strategy: entry.routing.strategy ?? defaults.strategy,
      retries: entry.routing.retries ?? defaults.retries,
      fallbacks: entry.routing.fallbacks,
      contextWindowFallbacks: entry.routing.context_window_fallbacks,
    },
    ownedBy: entry.owned_by ?? deployments[0]?.providerId ?? 'llm-backend',
    created: entry.created ?? created,
    capabilities: {
      chat: c.chat,
      completions: c.completions,
      embeddings: c.embeddings,
      tools: c.tools,
      vision: c.vision,
      jsonMode: c.json_mode,
      contextWindow: c.context_window,
    },
    pricing: pricingOf(entry.pricing),
  };
}

export function readRouting(raw: unknown, errors: string[]): RoutingEntry {
  return (
    checked(RoutingSchema, raw ?? {}, '/routing', errors) ??
    (checked(RoutingSchema, {}, '/routing', []) as RoutingEntry)
  );
}

export function routingConfigOf(entry: RoutingEntry): RoutingConfig {
  return {
    backoffBaseMs: entry.backoff_base_ms,
    backoffMaxMs: entry.backoff_max_ms,
    maxRetryAfterMs: entry.max_retry_after_ms,
    circuitBreaker: {
      failureThreshold: entry.circuit_breaker.failure_threshold,
      cooldownMs: entry.circuit_breaker.cooldown_ms,
    },
    healthCheckIntervalMs: entry.health_check_interval_ms,
  };
}

/** Every model of the file; problems (unknown providers, fallbacks...) are listed in errors. */
export function readModels(
  raw: readonly unknown[],
  providerIds: ReadonlySet<string>,
  defaults: RoutingEntry,
  created: number,
  errors: string[],
): ModelConfig[] {
  const models: ModelConfig[] = [];
  raw.forEach((item, index) => {
    const path = `/models/${index}`;
    const entry = checked(ModelSchema, item, path, errors);
    if (entry === null) return;
    if (models.some((model) => model.name === entry.name)) {
      errors.push(`CONFIG_FILE ${path}/name: duplicate model name '${entry.name}'`);
    }
    const model = resolveModel(entry, defaults, created, path, errors);
    model.deployments.forEach((d, i) => {
      if (!providerIds.has(d.providerId)) {
        const where = entry.deployments === undefined ? 'provider' : `deployments/${i}/provider`;
        errors.push(`CONFIG_FILE ${path}/${where}: unknown provider '${d.providerId}'`);
      }
    });
    models.push(model);
  });
  checkFallbacks(models, errors);
  return models;
}

function checkFallbacks(models: readonly ModelConfig[], errors: string[]): void {
  const names = new Set(models.map((model) => model.name));
  models.forEach((model, index) => {
    const listed = [
      ['fallbacks', model.routing.fallbacks],
      ['context_window_fallbacks', model.routing.contextWindowFallbacks],
    ] as const;
    for (const [field, fallbacks] of listed) {
      for (const name of fallbacks) {
        if (!names.has(name) || name === model.name) {
          errors.push(
            `CONFIG_FILE /models/${index}/routing/${field}: '${name}' is not another model of the file`,
          );
        }
      }
    }
  });
}

/**
 * The routers of the file; without a `routers` section, one named `auto` over every chat
 * model, unless a model already takes that name.
 */
export function readRouters(
  raw: unknown,
  models: readonly ModelConfig[],
  created: number,
  errors: string[],
): RouterConfig[] {
  const names = new Set(models.map((model) => model.name));
  if (raw === undefined) {
    return names.has('auto') ? [] : [{ name: 'auto', models: null, maxLatencyMs: null, created }];
  }
  if (!Array.isArray(raw)) {
    errors.push('CONFIG_FILE /routers: must be a list of routers');
    return [];
  }
  const routers: RouterConfig[] = [];
  raw.forEach((item, index) => {
    const entry: RouterEntry | null = checked(RouterSchema, item, `/routers/${index}`, errors);
    if (entry === null) return;
    if (names.has(entry.name)) {
      errors.push(`CONFIG_FILE /routers/${index}/name: '${entry.name}' is already a name in use`);
    }
    names.add(entry.name);
    for (const name of entry.models ?? []) {
      const model = models.find((candidate) => candidate.name === name);
      if (model === undefined)
        errors.push(`CONFIG_FILE /routers/${index}/models: unknown model '${name}'`);
      else if (!model.capabilities.chat)
        errors.push(`CONFIG_FILE /routers/${index}/models: '${name}' is not a chat model`);
    }
    routers.push({
      name: entry.name,
      models: entry.models ?? null,
      maxLatencyMs: entry.max_latency_ms ?? null,
      created,
    });
  });
  return routers;
}
