import { Agent, type Dispatcher, request, errors as undiciErrors } from 'undici';
import { UpstreamError, type UpstreamFailure } from './errors.js';
import { TruncatedStreamError } from './sse.js';
import type { CallContext, ChunkStream, HttpProviderSettings, JsonObject } from './types.js';

const MAX_ERROR_BODY_BYTES = 64 * 1024;

export type HttpMethod = 'GET' | 'POST';
export type ResponseBody = Dispatcher.ResponseData['body'];

export interface HttpTransportOptions {
  settings: HttpProviderSettings;
  /** The headers that carry a key, e.g. `{ authorization: 'Bearer ...' }`. */
  authHeaders: (apiKey: string) => Record<string, string>;
  /** Headers of the provider's protocol (e.g. `anthropic-version`); configured headers win. */
  protocolHeaders?: Record<string, string>;
  /** Rewrites a non-2xx body into OpenAI's error shape, for upstreams that speak another. */
  errorBody?: (status: number, body: unknown) => unknown;
}

/**
 * The HTTP plumbing every provider reached over HTTP shares: one keep-alive pool per
 * provider, the configured timeouts, the key (the caller's own when it has one), non-2xx
 * answers as UpstreamError and transport errors mapped to provider-neutral failures.
 */
export class HttpTransport {
  private readonly agent: Agent;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: HttpTransportOptions) {
    const { settings } = options;
    this.agent = new Agent({
      connections: settings.maxConnections,
      keepAliveTimeout: 30_000,
      connect: { timeout: settings.timeouts.connectMs },
      headersTimeout: settings.timeouts.firstByteMs,
      bodyTimeout: settings.timeouts.idleMs,
    });
    this.headers = {
      ...options.protocolHeaders,
      ...settings.headers,
      'content-type': 'application/json',
    };
  }

  get providerId(): string {
    return this.options.settings.id;
  }

  /** Sends a request and reads a JSON object back. */
  async json(
    method: HttpMethod,
    path: string,
    body: JsonObject | undefined,
    ctx: CallContext,
  ): Promise<JsonObject> {
    const response = await this.send(method, path, body, ctx);
    let parsed: unknown;
    try {
      parsed = await response.body.json();
    } catch (error) {
      throw this.failure(error, ctx, { kind: 'protocol', detail: 'response is not JSON' });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new UpstreamError(this.providerId, {
        kind: 'protocol',
        detail: 'response is not a JSON object',
      });
    }
    return parsed as JsonObject;
  }

  /**
   * POSTs a streaming request. Resolves once the upstream answered 2xx (so an HTTP error
   * rejects here, before any chunk); `read` turns the body into OpenAI chunk strings.
   */
  async stream(
    path: string,
    body: JsonObject,
    ctx: CallContext,
    read: (body: ResponseBody) => AsyncIterable<string>,
  ): Promise<ChunkStream> {
    const response = await this.send('POST', path, body, ctx);
    return this.chunks(response.body, ctx, read);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async *chunks(
    body: ResponseBody,
    ctx: CallContext,
    read: (body: ResponseBody) => AsyncIterable<string>,
  ): ChunkStream {
    try {
      yield* read(body);
    } catch (error) {
      throw this.failure(error, ctx, { kind: 'protocol', detail: 'stream interrupted' });
    } finally {
      // Ending early (client gone, error) must release the socket, not leave it half-read.
      if (!body.destroyed) body.destroy();
    }
  }

  private async send(
    method: HttpMethod,
    path: string,
    body: JsonObject | undefined,
    ctx: CallContext,
  ): Promise<Dispatcher.ResponseData> {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(`${this.options.settings.baseUrl}${path}`, {
        method,
        dispatcher: this.agent,
        headers: this.requestHeaders(ctx),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: ctx.signal,
      });
    } catch (error) {
      throw this.failure(error, ctx, { kind: 'unreachable' });
    }
    const status = response.statusCode;
    if (status >= 200 && status < 300) return response;
    const errorBody = await readErrorBody(response);
    throw new UpstreamError(this.providerId, {
      kind: 'http',
      status,
      body: this.options.errorBody ? this.options.errorBody(status, errorBody) : errorBody,
      retryAfter: headerValue(response.headers['retry-after']),
    });
  }

  private requestHeaders(ctx: CallContext): Record<string, string> {
    // A caller's own key replaces the platform's: the upstream bills whoever's key it sees.
    const apiKey = ctx.apiKey ?? this.options.settings.apiKey;
    const auth = apiKey === null ? {} : this.options.authHeaders(apiKey);
    return { ...this.headers, ...auth, ...ctx.traceHeaders, 'x-request-id': ctx.requestId };
  }

  /** Maps transport errors to failures; an abort by our own signal is rethrown as it is. */
  private failure(error: unknown, ctx: CallContext, fallback: UpstreamFailure): unknown {
    if (ctx.signal.aborted || error instanceof UpstreamError) return error;
    let failure = fallback;
    if (error instanceof undiciErrors.ConnectTimeoutError)
      failure = { kind: 'timeout', phase: 'connect' };
    else if (error instanceof undiciErrors.HeadersTimeoutError)
      failure = { kind: 'timeout', phase: 'first_byte' };
    else if (error instanceof undiciErrors.BodyTimeoutError)
      failure = { kind: 'timeout', phase: 'idle' };
    else if (error instanceof TruncatedStreamError)
      failure = { kind: 'protocol', detail: error.message };
    return new UpstreamError(this.providerId, failure, { cause: error });
  }
}

/** A 4xx refusal in OpenAI's error shape, for what a provider cannot do; nothing is sent. */
export function unsupported(providerId: string, message: string, param: string | null = null) {
  return new UpstreamError(providerId, {
    kind: 'http',
    status: 400,
    body: { error: { message, type: 'invalid_request_error', param, code: null } },
    retryAfter: null,
  });
}

async function readErrorBody(response: Dispatcher.ResponseData): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const part of response.body) {
      size += part.length;
      if (size > MAX_ERROR_BODY_BYTES) break;
      parts.push(part);
    }
  } catch {
    return null;
  } finally {
    response.body.destroy();
  }
  const text = Buffer.concat(parts).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function headerValue(value: string | string[] | undefined): string | null {
  if (Array.isArray(value)) return value[0] ?? null;
  return value ?? null;
}
