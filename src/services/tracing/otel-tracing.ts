import {
  type Attributes,
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  type Span as OtelSpan,
  SpanKind as OtelSpanKind,
  ROOT_CONTEXT,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  ParentBasedSampler,
  type Sampler,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { TraceSampler } from '../../config/tracing.js';
import type { Span, SpanAttributes, SpanKind, Tracing } from './span.js';

export interface OtelTracingOptions {
  serviceName: string;
  serviceVersion: string;
  sampler: TraceSampler;
  ratio: number;
  /** Where finished spans go: a batching OTLP exporter, or a test's in-memory one. */
  processor: SpanProcessor;
}

const propagator = new W3CTraceContextPropagator();

/**
 * Tracing through the OpenTelemetry SDK. Parents are passed explicitly from span to span
 * (no context manager, no AsyncLocalStorage): each Span holds its own context.
 */
export class OtelTracing implements Tracing {
  readonly enabled = true;
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;

  constructor(options: OtelTracingOptions) {
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: options.serviceName,
        [ATTR_SERVICE_VERSION]: options.serviceVersion,
      }),
      sampler: samplerOf(options.sampler, options.ratio),
      spanProcessors: [options.processor],
    });
    this.tracer = this.provider.getTracer('llm-backend', options.serviceVersion);
  }

  startRequest(
    name: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    attributes: SpanAttributes,
  ): Span {
    const parent = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
    const span = this.tracer.startSpan(
      name,
      { kind: OtelSpanKind.SERVER, attributes: clean(attributes) },
      parent,
    );
    return new OtelRequestSpan(this.tracer, span, trace.setSpan(ROOT_CONTEXT, span));
  }

  async close(): Promise<void> {
    // A collector that refuses the last batch must not fail the shutdown; the exporter has
    // logged it already.
    await this.provider.shutdown().catch(() => {});
  }
}

class OtelRequestSpan implements Span {
  readonly enabled = true;

  constructor(
    private readonly tracer: Tracer,
    private readonly span: OtelSpan,
    private readonly context: Context,
  ) {}

  child(name: string, attributes: SpanAttributes = {}, kind: SpanKind = 'internal'): Span {
    const span = this.tracer.startSpan(
      name,
      {
        kind: kind === 'client' ? OtelSpanKind.CLIENT : OtelSpanKind.INTERNAL,
        attributes: clean(attributes),
      },
      this.context,
    );
    return new OtelRequestSpan(this.tracer, span, trace.setSpan(ROOT_CONTEXT, span));
  }

  set(attributes: SpanAttributes): void {
    this.span.setAttributes(clean(attributes));
  }

  fail(error: unknown): void {
    const type = error instanceof Error ? error.name : typeof error;
    const message = error instanceof Error ? error.message : undefined;
    this.span.setAttribute('error.type', codeOf(error) ?? type);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message });
  }

  end(): void {
    this.span.end();
  }

  traceId(): string {
    return this.span.spanContext().traceId;
  }

  headers(): Readonly<Record<string, string>> {
    const carrier: Record<string, string> = {};
    propagator.inject(this.context, carrier, defaultTextMapSetter);
    return carrier;
  }
}

/** Our errors' code as clients see it (`rate_limit_exceeded`...): says more than a class name. */
function codeOf(error: unknown): string | null {
  if (error === null || typeof error !== 'object') return null;
  if ('wireCode' in error && typeof error.wireCode === 'string') return error.wireCode;
  if ('code' in error && typeof error.code === 'string') return error.code;
  return null;
}

function clean(attributes: SpanAttributes): Attributes {
  const result: Attributes = {};
  for (const [key, value] of Object.entries(attributes))
    if (value !== null && value !== undefined) result[key] = value;
  return result;
}

function samplerOf(name: TraceSampler, ratio: number): Sampler {
  const ratioSampler = new TraceIdRatioBasedSampler(ratio);
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratioSampler;
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratioSampler });
  }
}
