/** What a span may be told; null and undefined values are left out. */
export type SpanAttributes = Readonly<Record<string, string | number | boolean | null | undefined>>;

export type SpanKind = 'internal' | 'client';

/** The request path's view of one span: no OpenTelemetry types leak past this module. */
export interface Span {
  /** False for the no-op span: callers skip building attributes nobody will read. */
  readonly enabled: boolean;
  /** A span under this one, ended by its caller. */
  child(name: string, attributes?: SpanAttributes, kind?: SpanKind): Span;
  set(attributes: SpanAttributes): void;
  /** Marks the span failed, with the error's class and message (never a secret: ours are safe). */
  fail(error: unknown): void;
  end(): void;
  /**
   * The W3C trace context headers (`traceparent`, maybe `tracestate`) that make this span
   * the parent of whatever receives them; null when tracing is off.
   */
  headers(): Readonly<Record<string, string>> | null;
  /** The trace this span belongs to (32 hex digits); null when tracing is off. */
  traceId(): string | null;
}

/** The process's tracing: spans per request when on, a no-op that allocates nothing when off. */
export interface Tracing {
  readonly enabled: boolean;
  /**
   * A request's server span, child of the caller's trace when its headers carry a valid
   * `traceparent`.
   */
  startRequest(
    name: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    attributes: SpanAttributes,
  ): Span;
  /** Exports what is buffered, then stops. */
  close(): Promise<void>;
}

/** The one span of tracing off: every call does nothing, every child is itself. */
export const NOOP_SPAN: Span = {
  enabled: false,
  child: () => NOOP_SPAN,
  set: () => {},
  fail: () => {},
  end: () => {},
  headers: () => null,
  traceId: () => null,
};

export const NOOP_TRACING: Tracing = {
  enabled: false,
  startRequest: () => NOOP_SPAN,
  close: async () => {},
};

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * The client's own trace context, passed upstream unchanged while tracing is off, so the
 * upstream's spans still join the client's trace. Only a well-formed `traceparent` is passed,
 * with its `tracestate`; null otherwise (the common case: nothing is added).
 */
export function clientTraceHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): Readonly<Record<string, string>> | null {
  const traceparent = headers.traceparent;
  if (typeof traceparent !== 'string' || !TRACEPARENT.test(traceparent)) return null;
  const tracestate = headers.tracestate;
  return typeof tracestate === 'string' && tracestate.length <= 512
    ? { traceparent, tracestate }
    : { traceparent };
}
