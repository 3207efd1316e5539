import type { FastifyBaseLogger } from 'fastify';
import { type AppConfig, ConfigError } from '../config/load.js';
import type { RoutingMetrics } from '../observability/metrics/routing.js';
import { LangChainLoadError } from '../providers/langchain/load-class.js';
import { ProviderRegistry, tenantKeyProviders } from '../providers/registry.js';
import { InferenceService, type TenantKeyLookup } from '../services/inference/inference-service.js';
import { ModelCatalog } from '../services/inference/model-catalog.js';
import { ModelResolver } from '../services/routing/auto-router.js';
import { HealthChecker } from '../services/routing/health-checker.js';
import { ModelRouter } from '../services/routing/model-router.js';

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
  metrics: RoutingMetrics,
  log: FastifyBaseLogger,
  keyFor?: TenantKeyLookup,
): Promise<Routing> {
  const providers = await openProviders(config);
  const router = new ModelRouter({
    models: config.models,
    routing: config.routing,
    onAttempt: (target, outcome) =>
      metrics.attempt(target.model.name, target.deployment.id, outcome),
    onNextAttempt: (from, to) =>
      metrics.next(
        { model: from.model.name, deployment: from.deployment.id },
        { model: to.model.name, deployment: to.deployment.id },
      ),
  });
  metrics.watch(() => router.snapshot());
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
