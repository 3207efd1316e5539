import { Counter, Gauge, type Registry } from 'prom-client';
import { seriesOf } from './series.js';

const CIRCUIT_VALUE = { closed: 0, half_open: 1, open: 2 } as const;

/** What the router tells of each deployment at scrape time. */
export interface DeploymentView {
  model: string;
  deployment: string;
  circuit: keyof typeof CIRCUIT_VALUE;
  in_flight: number;
}

export interface RoutingMetrics {
  /** One upstream call's outcome (success, retry, failover, context, final). */
  attempt(model: string, deployment: string, outcome: string): void;
  /** Another attempt after a failed one: a retry on the same deployment, else a failover. */
  next(
    from: { model: string; deployment: string },
    to: { model: string; deployment: string },
  ): void;
  /** Deduplication: a leader's upstream call, a follower served by one, a takeover. */
  dedup(role: 'leaders' | 'followers' | 'takeovers'): void;
  /** Where the circuits and in-flight counts are read from at scrape time. */
  watch(snapshot: () => readonly DeploymentView[]): void;
}

const dedupCounter = (registry: Registry, role: string, help: string) =>
  new Counter({ name: `llm_backend_dedup_${role}_total`, help, registers: [registry] });

export function routingMetrics(registry: Registry): RoutingMetrics {
  const attempts = new Counter({
    name: 'llm_backend_upstream_attempts_total',
    help: 'Upstream calls by model, deployment and outcome (success, retry, failover, context, final).',
    labelNames: ['model', 'deployment', 'outcome'],
    registers: [registry],
  });
  const retries = new Counter({
    name: 'llm_backend_upstream_retries_total',
    help: 'Attempts made again on the deployment whose previous attempt failed.',
    labelNames: ['model', 'deployment'],
    registers: [registry],
  });
  const failovers = new Counter({
    name: 'llm_backend_upstream_failovers_total',
    help: 'Attempts moved to another deployment (or a fallback model) after a failed one; model is the one failed over from.',
    labelNames: ['model', 'from_deployment', 'to_deployment'],
    registers: [registry],
  });
  const dedup = {
    leaders: dedupCounter(
      registry,
      'leaders',
      'Shared requests whose upstream call this instance made.',
    ),
    followers: dedupCounter(
      registry,
      'followers',
      'Requests answered by another identical request in flight, without an upstream call of their own.',
    ),
    takeovers: dedupCounter(
      registry,
      'takeovers',
      'Upstream calls this instance made for followers whose leader died or failed.',
    ),
  };
  let snapshot: () => readonly DeploymentView[] = () => [];
  new Gauge({
    name: 'llm_backend_deployment_circuit_state',
    help: 'Circuit of each deployment: 0 closed, 1 half-open, 2 open.',
    labelNames: ['model', 'deployment'],
    registers: [registry],
    collect() {
      for (const s of snapshot())
        this.set({ model: s.model, deployment: s.deployment }, CIRCUIT_VALUE[s.circuit]);
    },
  });
  new Gauge({
    name: 'llm_backend_deployment_in_flight_requests',
    help: 'Requests in flight to each deployment, streams until their end.',
    labelNames: ['model', 'deployment'],
    registers: [registry],
    collect() {
      for (const s of snapshot())
        this.set({ model: s.model, deployment: s.deployment }, s.in_flight);
    },
  });
  const attempt = seriesOf((model, deployment, outcome) =>
    attempts.labels(model, deployment, outcome),
  );
  const retry = seriesOf((model, deployment) => retries.labels(model, deployment));
  const failover = seriesOf((model, from, to) => failovers.labels(model, from, to));
  return {
    attempt: (model, deployment, outcome) => attempt(model, deployment, outcome).inc(),
    next(from, to) {
      if (from.model === to.model && from.deployment === to.deployment)
        retry(from.model, from.deployment).inc();
      else failover(from.model, from.deployment, to.deployment).inc();
    },
    dedup: (role) => dedup[role].inc(),
    watch(source) {
      snapshot = source;
    },
  };
}
