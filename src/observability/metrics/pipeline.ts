import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { seriesOf } from './series.js';

/** What the usage pipeline tells at scrape time. */
export interface UsageView {
  /** Events this process holds because the queue could not take them yet. */
  buffered(): number;
  backlog(): Promise<number>;
  pending(): Promise<number>;
  deadLetters(): Promise<number>;
}

export interface PipelineMetrics {
  event(type: string): void;
  /** How long an answer waited for its usage event to be queued. */
  commitWait(seconds: number, outcome: 'committed' | 'timed_out'): void;
  /** One webhook delivery attempt (outcome: delivered | failed). */
  delivery(seconds: number, outcome: 'delivered' | 'failed'): void;
  watchUsage(view: UsageView): void;
  /** Stream appends no replica confirmed in time, by stream, since the process started. */
  watchReplication(unreplicated: () => Iterable<readonly [string, number]>): void;
  /** Webhook deliveries waiting to be sent (or sent again). */
  watchWebhooks(depth: () => Promise<number>): void;
}

/** A queue that cannot be read shows -1 rather than a stale or a made-up figure. */
const UNREADABLE = -1;

function queueGauge(
  registry: Registry,
  name: string,
  help: string,
  read: () => Promise<number> | null,
): void {
  new Gauge({
    name,
    help: `${help}; -1 when the queue cannot be read.`,
    registers: [registry],
    async collect() {
      const reading = read();
      if (reading !== null) this.set(await reading.catch(() => UNREADABLE));
    },
  });
}

export function pipelineMetrics(registry: Registry): PipelineMetrics {
  let usage: UsageView | null = null;
  let webhooks: (() => Promise<number>) | null = null;
  new Gauge({
    name: 'llm_backend_usage_events_buffered',
    help: 'Usage events this instance holds because the queue (Redis) could not take them yet.',
    registers: [registry],
    collect() {
      if (usage !== null) this.set(usage.buffered());
    },
  });
  let unreplicated: (() => Iterable<readonly [string, number]>) | null = null;
  new Counter({
    name: 'llm_backend_redis_unreplicated_writes_total',
    help: 'Stream appends Redis took but no replica confirmed within REDIS_REPLICA_ACK_TIMEOUT_MS, by stream (usage, events, logs, batches): a failover in that moment could lose them.',
    labelNames: ['stream'],
    registers: [registry],
    collect() {
      if (unreplicated === null) return;
      // Counted where the writes go; told here as it stands.
      this.reset();
      for (const [stream, count] of unreplicated()) this.inc({ stream }, count);
    },
  });
  queueGauge(
    registry,
    'llm_backend_usage_queue_backlog',
    'Usage events queued and not yet written to the tenant databases (all instances)',
    () => usage?.backlog() ?? null,
  );
  queueGauge(
    registry,
    'llm_backend_usage_queue_pending',
    'Usage events handed to a worker and not yet acknowledged (all instances)',
    () => usage?.pending() ?? null,
  );
  queueGauge(
    registry,
    'llm_backend_usage_dead_letters',
    'Usage events set aside as unwritable, kept for an operator (all instances)',
    () => usage?.deadLetters() ?? null,
  );
  queueGauge(
    registry,
    'llm_backend_webhook_queue_depth',
    'Webhook deliveries scheduled and not yet done, retries included (all instances)',
    () => webhooks?.() ?? null,
  );
  const events = new Counter({
    name: 'llm_backend_events_total',
    help: 'Events raised by this process (quota thresholds and refusals, key changes, alerts), by type.',
    labelNames: ['type'],
    registers: [registry],
  });
  const wait = new Histogram({
    name: 'llm_backend_usage_commit_wait_seconds',
    help: 'How long an answer waited for its usage event to be queued (Redis) before its last byte was sent.',
    labelNames: ['outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const deliveries = new Histogram({
    name: 'llm_backend_webhook_delivery_duration_seconds',
    help: 'Webhook delivery attempts, from sending to the answer (or the timeout), by outcome (delivered: a 2xx, failed: anything else).',
    labelNames: ['outcome'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const event = seriesOf((type) => events.labels(type));
  // Observed for every answer: the labelled series looked up once, as everywhere else.
  const waited = seriesOf((outcome) => wait.labels(outcome));
  return {
    event: (type) => event(type).inc(),
    commitWait: (seconds, outcome) => waited(outcome).observe(seconds),
    delivery: (seconds, outcome) => deliveries.observe({ outcome }, seconds),
    watchUsage(view) {
      usage = view;
    },
    watchReplication(read) {
      unreplicated = read;
    },
    watchWebhooks(depth) {
      webhooks = depth;
    },
  };
}
