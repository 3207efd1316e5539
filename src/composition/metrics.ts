import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { EventType } from '../services/events/catalogue.js';
import type { UsageQueue } from '../services/usage/queue.js';
import type { UsagePublisher } from '../services/usage/usage-publisher.js';

/**
 * The usage pipeline and the events it feeds, for Prometheus: what waits in this process,
 * what waits in the queue, and the events raised. Returns the events counter's increment.
 */
export function registerPipelineMetrics(
  registry: Registry,
  usage: { publisher: UsagePublisher; queue: UsageQueue },
): (type: EventType) => void {
  new Gauge({
    name: 'llm_backend_usage_events_buffered',
    help: 'Usage events this instance holds because the queue (Redis) could not take them yet.',
    registers: [registry],
    collect() {
      this.set(usage.publisher.buffered);
    },
  });
  new Gauge({
    name: 'llm_backend_usage_queue_backlog',
    help: 'Usage events queued and not yet written to the tenant databases (all instances); -1 when the queue cannot be read.',
    registers: [registry],
    async collect() {
      this.set(await usage.queue.backlog().catch(() => -1));
    },
  });
  const events = new Counter({
    name: 'llm_backend_events_total',
    help: 'Events raised by this process (quota thresholds and refusals, key changes, alerts), by type.',
    labelNames: ['type'],
    registers: [registry],
  });
  return (type) => events.inc({ type });
}

/**
 * How long answers waited for their usage event to be queued before their last byte went:
 * `committed` once the queue held it, `timed_out` when USAGE_COMMIT_TIMEOUT_MS passed first.
 * Returns the observer.
 */
export function registerCommitMetrics(
  registry: Registry,
): (seconds: number, outcome: 'committed' | 'timed_out') => void {
  const wait = new Histogram({
    name: 'llm_backend_usage_commit_wait_seconds',
    help: 'How long an answer waited for its usage event to be queued (Redis) before its last byte was sent.',
    labelNames: ['outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  return (seconds, outcome) => wait.observe({ outcome }, seconds);
}
