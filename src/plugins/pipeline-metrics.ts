import { Counter, Gauge, type Registry } from 'prom-client';
import type { NewEvent } from '../services/events/event-log.js';
import type { UsageQueue } from '../services/usage/queue.js';
import type { UsagePublisher } from '../services/usage/usage-publisher.js';

export interface PipelineMetrics {
  /** Counts an event told (quota thresholds, alerts) by its type. */
  event(event: NewEvent): void;
}

/**
 * The usage pipeline and the events it feeds, for Prometheus: what waits in this instance,
 * what waits in the queue, and the events raised.
 */
export function registerPipelineMetrics(
  registry: Registry,
  usage: { publisher: UsagePublisher; queue: UsageQueue },
): PipelineMetrics {
  new Gauge({
    name: 'usage_events_buffered',
    help: 'Usage events this instance holds because the queue (Redis) could not take them yet.',
    registers: [registry],
    collect() {
      this.set(usage.publisher.buffered);
    },
  });
  new Gauge({
    name: 'usage_queue_backlog',
    help: 'Usage events queued and not yet written to the tenant databases (all instances); -1 when the queue cannot be read.',
    registers: [registry],
    async collect() {
      this.set(await usage.queue.backlog().catch(() => -1));
    },
  });
  const events = new Counter({
    name: 'gateway_events_total',
    help: 'Events raised by this instance (quota thresholds and refusals, alerts), by type.',
    labelNames: ['type'],
    registers: [registry],
  });
  return { event: (event) => events.inc({ type: event.type }) };
}
