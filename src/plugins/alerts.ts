import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import type { AlertsConfig } from '../config/alerts.js';
import type { AlertMonitor } from '../services/alerts/alert-monitor.js';
import type { FinishedRequest, RequestContext } from './request-context.js';

/** The model a request asked for, even one that failed before a model answered. */
function modelOf({ request }: FinishedRequest): string | null {
  if (request.inference) return request.inference.model;
  const body = request.body as { model?: unknown } | undefined;
  return typeof body?.model === 'string' ? body.model : null;
}

/** Feeds every finished tenant inference request to the alert monitor, judged a few times per window. */
export function registerAlerts(
  app: FastifyInstance,
  context: RequestContext,
  monitor: AlertMonitor,
  config: AlertsConfig,
): void {
  context.onFinished((finished) => {
    const { request, status } = finished;
    const model = modelOf(finished);
    if (request.principal?.kind !== 'tenant' || model === null || !request.url.startsWith('/v1/'))
      return;
    const inference = request.inference;
    const usage = inference?.usage;
    monitor.observe({
      at: request.startedAt.getTime(),
      tenantId: request.principal.tenantId,
      model,
      failed: status >= 500,
      latencyMs: inference ? (inference.timeToFirstChunkMs ?? finished.durationMs) : null,
      tokens: usage ? usage.promptTokens + usage.completionTokens : 0,
    });
  });
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  let judging: Promise<void> = Promise.resolve();
  // The first interval holds the start (loading, compiling, connecting): not an episode.
  let started = false;
  const timer = setInterval(
    () => {
      if (started) monitor.observeLoopDelay(delay.percentile(99) / 1e6);
      started = true;
      delay.reset();
      judging = monitor.evaluate();
    },
    Math.max(1000, config.windowMs / 6),
  );
  timer.unref();
  app.addHook('onClose', async () => {
    clearInterval(timer);
    delay.disable();
    await judging;
  });
}
