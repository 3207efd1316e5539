import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from 'prom-client';
import { seriesOf } from './series.js';

/** A database pool's connections now, as pg's Pool counts them. */
export interface PoolView {
  /** control (the control plane), tenant (every tenant database, together) or admin. */
  pool: string;
  total: number;
  idle: number;
  waiting: number;
}

/** A read replica's lag as last looked at (see ReplicaLagMonitor). */
export interface ReplicaView {
  server: string;
  /** null: unknown (not looked at yet, or not answering). */
  lagSeconds: number | null;
  inUse: boolean;
}

export interface SystemMetrics {
  /** One database query's time, by pool. */
  query(pool: string, seconds: number): void;
  /** One Redis command's time, on the connection (command, blocking) it went on. */
  redisCommand(connection: string, seconds: number): void;
  redisError(connection: string): void;
  /** Where the pools are read from at scrape time (they come and go with tenants). */
  watchPools(pools: () => Iterable<PoolView>): void;
  /** Where the replicas' lags are read from at scrape time. */
  watchReplicas(replicas: () => Iterable<ReplicaView>): void;
}

const PREFIX = 'llm_backend_';
const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export function systemMetrics(registry: Registry, role: string): SystemMetrics {
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  // Gauges named like counters, which promtool's lint refuses; their labelled twins
  // (llm_backend_nodejs_active_handles{type} ...) carry the same figures, summed.
  for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(`${PREFIX}${name}`);
  new Gauge({
    name: 'llm_backend_up',
    help: 'Always 1 while the process serves metrics, labelled with what it runs (serve, worker).',
    labelNames: ['instance_role'],
    registers: [registry],
  }).set({ instance_role: role }, 1);
  let pools: () => Iterable<PoolView> = () => [];
  new Gauge({
    name: 'llm_backend_pg_pool_connections',
    help: 'PostgreSQL pool connections by pool (control, tenant: every tenant pool together, replica: every tenant pool on a read replica together, admin) and state (total, idle, waiting: clients waiting for one).',
    labelNames: ['pool', 'state'],
    registers: [registry],
    collect() {
      const sums = new Map<string, { total: number; idle: number; waiting: number }>();
      for (const view of pools()) {
        const sum = sums.get(view.pool) ?? { total: 0, idle: 0, waiting: 0 };
        sum.total += view.total;
        sum.idle += view.idle;
        sum.waiting += view.waiting;
        sums.set(view.pool, sum);
      }
      this.reset();
      for (const [pool, sum] of sums)
        for (const state of ['total', 'idle', 'waiting'] as const)
          this.set({ pool, state }, sum[state]);
    },
  });
  let replicas: () => Iterable<ReplicaView> = () => [];
  new Gauge({
    name: 'llm_backend_pg_replica_lag_seconds',
    help: "A database server's read replica's lag behind it, in seconds, as the background check last saw it (no series while unknown: not looked at yet or not answering).",
    labelNames: ['server'],
    registers: [registry],
    collect() {
      this.reset();
      for (const view of replicas())
        if (view.lagSeconds !== null) this.set({ server: view.server }, view.lagSeconds);
    },
  });
  new Gauge({
    name: 'llm_backend_pg_replica_in_use',
    help: "1 while a database server's read replica serves the reads that tolerate lag, 0 while they go to the server itself (the replica lags beyond max_replica_lag_seconds or does not answer).",
    labelNames: ['server'],
    registers: [registry],
    collect() {
      this.reset();
      for (const view of replicas()) this.set({ server: view.server }, view.inUse ? 1 : 0);
    },
  });
  const queries = new Histogram({
    name: 'llm_backend_pg_query_duration_seconds',
    help: 'PostgreSQL query time (as the driver waited for it, connection checkout included), by pool.',
    labelNames: ['pool'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const commands = new Histogram({
    name: 'llm_backend_redis_command_duration_seconds',
    help: 'Redis command round trips on the shared command connection (pipelined commands each).',
    labelNames: ['connection'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'llm_backend_redis_errors_total',
    help: 'Redis commands that failed (error reply, connection lost, timeout), by connection (command, blocking).',
    labelNames: ['connection'],
    registers: [registry],
  });
  const query = seriesOf((pool) => queries.labels(pool));
  const command = seriesOf((connection) => commands.labels(connection));
  const error = seriesOf((connection) => errors.labels(connection));
  // Both connections' series exist from the start, at 0: an alert on increase() sees the
  // first error, which a series born at 1 would not show as a rise.
  for (const connection of ['command', 'blocking']) error(connection).inc(0);
  return {
    query: (pool, seconds) => query(pool).observe(seconds),
    redisCommand: (connection, seconds) => command(connection).observe(seconds),
    redisError: (connection) => error(connection).inc(),
    watchPools(source) {
      pools = source;
    },
    watchReplicas(source) {
      replicas = source;
    },
  };
}
