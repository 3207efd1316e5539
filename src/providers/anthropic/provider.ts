import type { UpstreamError } from '../errors.js';
import { HttpTransport, type ResponseBody, unsupported } from '../http-transport.js';
import { readSseEvents } from '../sse.js';
import type {
  AnthropicProviderConfig,
  CallContext,
  ChunkStream,
  JsonObject,
  Provider,
} from '../types.js';
import { toOpenAIErrorBody, UnsupportedRequestError } from './errors.js';
import { type AnthropicRequest, toAnthropicRequest } from './request.js';
import { toChatCompletion, toModelList } from './response.js';
import { isMessageStop, toChatCompletionChunks } from './stream.js';

/**
 * Anthropic's Messages API behind OpenAI's chat completions: requests, answers, streams and
 * errors are translated both ways, so an OpenAI client cannot tell. Anthropic offers no
 * text completions or embeddings; those are refused before anything is sent.
 */
export class AnthropicProvider implements Provider {
  readonly id: string;
  private readonly http: HttpTransport;

  constructor(private readonly config: AnthropicProviderConfig) {
    this.id = config.id;
    this.http = new HttpTransport({
      settings: config,
      authHeaders: (apiKey) => ({ 'x-api-key': apiKey }),
      protocolHeaders: { 'anthropic-version': config.version },
      errorBody: (_status, body) => toOpenAIErrorBody(body),
    });
  }

  async chatCompletion(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    const request = this.translate({ ...body, stream: false });
    const message = await this.http.json('POST', '/v1/messages', request, ctx);
    return toChatCompletion(message);
  }

  async chatCompletionStream(body: JsonObject, ctx: CallContext): Promise<ChunkStream> {
    const request = this.translate({ ...body, stream: true });
    const options = body.stream_options as { include_usage?: unknown } | null | undefined;
    const read = (response: ResponseBody) =>
      toChatCompletionChunks(readSseEvents(response, isMessageStop), {
        providerId: this.id,
        includeUsage: options?.include_usage === true,
      });
    return this.http.stream('/v1/messages', request, ctx, read);
  }

  completion(): Promise<JsonObject> {
    return Promise.reject(this.noCompletions());
  }

  completionStream(): Promise<ChunkStream> {
    return Promise.reject(this.noCompletions());
  }

  embeddings(): Promise<JsonObject> {
    return Promise.reject(unsupported(this.id, 'This model does not offer embeddings.', 'model'));
  }

  async listModels(ctx: CallContext): Promise<JsonObject> {
    return toModelList(await this.http.json('GET', '/v1/models?limit=1000', undefined, ctx));
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private translate(body: JsonObject): AnthropicRequest {
    try {
      return toAnthropicRequest(body, { maxTokens: this.config.defaultMaxTokens });
    } catch (error) {
      if (error instanceof UnsupportedRequestError) {
        throw unsupported(this.id, error.message, error.param);
      }
      throw error;
    }
  }

  private noCompletions(): UpstreamError {
    return unsupported(
      this.id,
      'This model offers chat completions only; use /v1/chat/completions.',
      'model',
    );
  }
}
