import { Counter, Gauge, type Registry } from 'prom-client';
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
    help: 'Events raised by this process (quota thresholds and refusals, key changes, alerts), by type.',
    labelNames: ['type'],
    registers: [registry],
  });
  return (type) => events.inc({ type });
}
