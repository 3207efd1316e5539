import { HttpTransport } from '../http-transport.js';
import { readResponseEvents, readSseData } from '../sse.js';
import type {
  AzureOpenAIProviderConfig,
  CallContext,
  ChunkStream,
  JsonObject,
  Provider,
} from '../types.js';

type Operation = 'chat/completions' | 'completions' | 'embeddings';

/**
 * Azure OpenAI: OpenAI's bodies and answers, but the model is a deployment named in the
 * URL, the API version is a query parameter and the key goes in `api-key`.
 */
export class AzureOpenAIProvider implements Provider {
  readonly id: string;
  readonly responses?: Provider['responses'];
  private readonly http: HttpTransport;
  private readonly apiVersion: string;

  constructor(config: AzureOpenAIProviderConfig) {
    this.id = config.id;
    this.apiVersion = encodeURIComponent(config.apiVersion);
    const http = new HttpTransport({
      settings: config,
      authHeaders: (apiKey) => ({ 'api-key': apiKey }),
    });
    this.http = http;
    // Azure's v1 Responses API: the deployment is the body's model, no api-version needed.
    if (config.responsesApi)
      this.responses = {
        create: (body, ctx) => http.json('POST', '/openai/v1/responses', body, ctx),
        stream: (body, ctx) => http.stream('/openai/v1/responses', body, ctx, readResponseEvents),
      };
  }

  chatCompletion(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    return this.http.json('POST', this.path(body, 'chat/completions'), withoutModel(body), ctx);
  }

  chatCompletionStream(body: JsonObject, ctx: CallContext): Promise<ChunkStream> {
    const path = this.path(body, 'chat/completions');
    return this.http.stream(path, withoutModel(body), ctx, readSseData);
  }

  completion(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    return this.http.json('POST', this.path(body, 'completions'), withoutModel(body), ctx);
  }

  completionStream(body: JsonObject, ctx: CallContext): Promise<ChunkStream> {
    return this.http.stream(this.path(body, 'completions'), withoutModel(body), ctx, readSseData);
  }

  embeddings(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    return this.http.json('POST', this.path(body, 'embeddings'), withoutModel(body), ctx);
  }

  /** The resource's models (not its deployments): enough to tell the endpoint and key work. */
  listModels(ctx: CallContext): Promise<JsonObject> {
    return this.http.json('GET', `/openai/models?api-version=${this.apiVersion}`, undefined, ctx);
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private path(body: JsonObject, operation: Operation): string {
    const deployment = encodeURIComponent(String(body.model));
    return `/openai/deployments/${deployment}/${operation}?api-version=${this.apiVersion}`;
  }
}

/** The deployment in the URL names the model; Azure ignores or rejects one in the body. */
function withoutModel(body: JsonObject): JsonObject {
  const { model: _model, ...rest } = body;
  return rest;
}
