import { Agent, type Dispatcher, request, errors as undiciErrors } from 'undici';
import { UpstreamError, type UpstreamFailure } from '../errors.js';
import { readSseData, TruncatedStreamError } from '../sse.js';
import type {
  CallContext,
  ChunkStream,
  JsonObject,
  OpenAICompatibleProviderConfig,
  Provider,
} from '../types.js';

const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * Any server that speaks OpenAI's wire format: OpenAI itself, vLLM, Ollama, llama.cpp,
 * LM Studio, Groq, Together... One keep-alive pool per provider.
 */
export class OpenAICompatibleProvider implements Provider {
  readonly id: string;
  private readonly agent: Agent;
  private readonly headers: Record<string, string>;

  constructor(private readonly config: OpenAICompatibleProviderConfig) {
    this.id = config.id;
    this.agent = new Agent({
      connections: config.maxConnections,
      keepAliveTimeout: 30_000,
      connect: { timeout: config.timeouts.connectMs },
      headersTimeout: config.timeouts.firstByteMs,
      bodyTimeout: config.timeouts.idleMs,
    });
    this.headers = { ...config.headers, 'content-type': 'application/json' };
    if (config.apiKey !== null) this.headers.authorization = `Bearer ${config.apiKey}`;
  }

  chatCompletion(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    return this.json('POST', '/chat/completions', body, ctx);
  }

  chatCompletionStream(body: JsonObject, ctx: CallContext): Promise<ChunkStream> {
    return this.stream('/chat/completions', body, ctx);
  }

  completion(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    return this.json('POST', '/completions', body, ctx);
  }

  completionStream(body: JsonObject, ctx: CallContext): Promise<ChunkStream> {
    return this.stream('/completions', body, ctx);
  }

  embeddings(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    return this.json('POST', '/embeddings', body, ctx);
  }

  listModels(ctx: CallContext): Promise<JsonObject> {
    return this.json('GET', '/models', undefined, ctx);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async json(
    method: 'GET' | 'POST',
    path: string,
    body: JsonObject | undefined,
    ctx: CallContext,
  ) {
    const response = await this.send(method, path, body, ctx);
    let parsed: unknown;
    try {
      parsed = await response.body.json();
    } catch (error) {
      throw this.failure(error, ctx, { kind: 'protocol', detail: 'response is not JSON' });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new UpstreamError(this.id, {
        kind: 'protocol',
        detail: 'response is not a JSON object',
      });
    }
    return parsed as JsonObject;
  }

  private async stream(path: string, body: JsonObject, ctx: CallContext): Promise<ChunkStream> {
    const response = await this.send('POST', path, body, ctx);
    return this.chunks(response.body, ctx);
  }

  private async *chunks(body: Dispatcher.ResponseData['body'], ctx: CallContext): ChunkStream {
    try {
      yield* readSseData(body);
    } catch (error) {
      throw this.failure(error, ctx, { kind: 'protocol', detail: 'stream interrupted' });
    } finally {
      // Ending early (client gone, error) must release the socket, not leave it half-read.
      if (!body.destroyed) body.destroy();
    }
  }

  private async send(
    method: 'GET' | 'POST',
    path: string,
    body: JsonObject | undefined,
    ctx: CallContext,
  ) {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(`${this.config.baseUrl}${path}`, {
        method,
        dispatcher: this.agent,
        headers: { ...this.headers, 'x-request-id': ctx.requestId },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: ctx.signal,
      });
    } catch (error) {
      throw this.failure(error, ctx, { kind: 'unreachable' });
    }
    if (response.statusCode >= 200 && response.statusCode < 300) return response;
    throw new UpstreamError(this.id, {
      kind: 'http',
      status: response.statusCode,
      body: await readErrorBody(response),
      retryAfter: headerValue(response.headers['retry-after']),
    });
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
    return new UpstreamError(this.id, failure, { cause: error });
  }
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
