import type { FastifyBaseLogger } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import { type AppConfig, ConfigError } from '../config/load.js';
import { LangChainLoadError } from '../providers/langchain/load-class.js';
import { ProviderRegistry, tenantKeyProviders } from '../providers/registry.js';
import { InferenceService, type TenantKeyLookup } from '../services/inference/inference-service.js';
import { ModelCatalog } from '../services/inference/model-catalog.js';
import { ModelResolver } from '../services/routing/auto-router.js';
import { HealthChecker } from '../services/routing/health-checker.js';
import { ModelRouter } from '../services/routing/model-router.js';

const CIRCUIT_VALUE = { closed: 0, half_open: 1, open: 2 } as const;

export interface Routing {
  inference: InferenceService;
  catalog: ModelCatalog;
  resolver: ModelResolver;
  router: ModelRouter;
  start(): void;
  close(): Promise<void>;
}

/**
 * The providers, the router over their deployments, and what watches them: health probes
 * and metrics. Built once per app.
 */
export async function buildRouting(
  config: AppConfig,
  metrics: Registry,
  log: FastifyBaseLogger,
  keyFor?: TenantKeyLookup,
): Promise<Routing> {
  const providers = await openProviders(config);
  const attempts = new Counter({
    name: 'llm_backend_upstream_attempts_total',
    help: 'Upstream calls by model, deployment and outcome (success, retry, failover, context, final).',
    labelNames: ['model', 'deployment', 'outcome'],
    registers: [metrics],
  });
  const router = new ModelRouter({
    models: config.models,
    routing: config.routing,
    onAttempt: (target, outcome) =>
      attempts.inc({ model: target.model.name, deployment: target.deployment.id, outcome }),
  });
  registerDeploymentGauges(metrics, router);
  const tenantKeys = tenantKeyProviders(config.providers);
  const catalog = new ModelCatalog(config.models, config.routers);
  const health = new HealthChecker({
    states: router.deploymentStates(),
    providers,
    skip: new Set(
      config.providers
        .filter((p) => 'apiKey' in p && p.apiKey === null && p.tenantKeys)
        .map((p) => p.id),
    ),
    intervalMs: config.routing.healthCheckIntervalMs,
    onError: (error) => log.warn({ err: error }, 'deployment health check failed'),
  });
  return {
    inference: new InferenceService({ providers, router, tenantKeyProviders: tenantKeys, keyFor }),
    catalog,
    resolver: new ModelResolver(catalog, (model) => router.latencyOf(model)),
    router,
    start: () => health.start(),
    close: async () => {
      await health.stop();
      await providers.close();
    },
  };
}

/** The providers; a LangChain package or class that cannot be loaded is a config problem. */
async function openProviders(config: AppConfig): Promise<ProviderRegistry> {
  try {
    return await ProviderRegistry.open(config.providers);
  } catch (error) {
    if (error instanceof LangChainLoadError)
      throw new ConfigError([`CONFIG_FILE: ${error.message}`]);
    throw error;
  }
}

function registerDeploymentGauges(metrics: Registry, router: ModelRouter): void {
  new Gauge({
    name: 'llm_backend_deployment_circuit_state',
    help: 'Circuit of each deployment: 0 closed, 1 half-open, 2 open.',
    labelNames: ['model', 'deployment'],
    registers: [metrics],
    collect() {
      this.reset();
      for (const s of router.snapshot())
        this.set({ model: s.model, deployment: s.deployment }, CIRCUIT_VALUE[s.circuit]);
    },
  });
  new Gauge({
    name: 'llm_backend_deployment_in_flight_requests',
    help: 'Requests in flight to each deployment, streams until their end.',
    labelNames: ['model', 'deployment'],
    registers: [metrics],
    collect() {
      this.reset();
      for (const s of router.snapshot())
        this.set({ model: s.model, deployment: s.deployment }, s.in_flight);
    },
  });
}
