import { readFileSync } from 'node:fs';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
import type { TracingConfig } from '../config/tracing.js';
import { OtelTracing } from '../services/tracing/otel-tracing.js';
import { NOOP_TRACING, type Tracing } from '../services/tracing/span.js';

const { version } = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string };

/**
 * The tracing of a `serve` process: the no-op unless OTEL_TRACES_EXPORTER=otlp, so with
 * tracing off no span, context or exporter exists. `exporter` replaces the OTLP exporter
 * (tests read spans from memory); spans then go to it one by one, as they end.
 */
export function buildTracing(config: TracingConfig, log: Logger, exporter?: SpanExporter): Tracing {
  if (!config.enabled && exporter === undefined) return NOOP_TRACING;
  const processor =
    exporter === undefined
      ? new BatchSpanProcessor(
          new LoggedExporter(
            new OTLPTraceExporter({ url: config.endpoint, headers: { ...config.headers } }),
            log,
          ),
        )
      : new SimpleSpanProcessor(exporter);
  log.info(
    { endpoint: exporter === undefined ? withoutCredentials(config.endpoint) : null },
    'tracing on',
  );
  return new OtelTracing({
    serviceName: config.serviceName,
    serviceVersion: version,
    sampler: config.sampler,
    ratio: config.ratio,
    processor,
  });
}

/** The URL as it may be logged: a user and password in it are left out. */
function withoutCredentials(endpoint: string): string {
  const url = new URL(endpoint);
  url.username = '';
  url.password = '';
  return url.href;
}

/**
 * Says in the log when the collector cannot be reached (once per run of failures, not once
 * per batch): the SDK itself drops failed batches silently.
 */
class LoggedExporter implements SpanExporter {
  private failing = false;

  constructor(
    private readonly inner: SpanExporter,
    private readonly log: Logger,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.failing = false;
      else if (!this.failing) {
        this.failing = true;
        this.log.warn({ err: result.error, spans: spans.length }, 'trace export failed');
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
