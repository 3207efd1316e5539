import type { Registry } from 'prom-client';
import { type ActivityMetrics, activityMetrics } from './activity.js';
import { type HttpMetrics, httpMetrics } from './http.js';
import { type InferenceMetrics, inferenceMetrics } from './inference.js';
import { type LimitMetrics, limitMetrics } from './limits.js';
import { type PipelineMetrics, pipelineMetrics } from './pipeline.js';
import { type RoutingMetrics, routingMetrics } from './routing.js';
import { type SystemMetrics, systemMetrics } from './system.js';
import { TenantLabels } from './tenant-labels.js';

/**
 * Every metric of ours, all `llm_backend_*`, declared once per composition root into its one
 * registry, whatever the role: a family a role never feeds is exposed without samples, so
 * every instance shows the same set (docs/metrics.md lists it; a test keeps both equal).
 * What they read at scrape time (router, queues, pools) is handed over by the composition
 * through the `watch...` calls; what the request path records goes through pre-resolved
 * series and never waits.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly tenants: TenantLabels;
  readonly http: HttpMetrics;
  readonly inference: InferenceMetrics;
  readonly activity: ActivityMetrics;
  readonly limits: LimitMetrics;
  readonly routing: RoutingMetrics;
  readonly pipeline: PipelineMetrics;
  readonly system: SystemMetrics;
}

export interface MetricsOptions {
  /** How many tenants get a label of their own (METRICS_TENANT_LABELS). */
  tenantLabels: number;
  /** What the process runs: the `instance_role` of llm_backend_up. */
  role: string;
}

export function createMetrics(registry: Registry, options: MetricsOptions): Metrics {
  return {
    registry,
    tenants: new TenantLabels(options.tenantLabels),
    http: httpMetrics(registry),
    inference: inferenceMetrics(registry),
    activity: activityMetrics(registry),
    limits: limitMetrics(registry),
    routing: routingMetrics(registry),
    pipeline: pipelineMetrics(registry),
    system: systemMetrics(registry, options.role),
  };
}
