import { HttpTransport } from '../http-transport.js';
import { readResponseEvents, readSseData } from '../sse.js';
import type {
  CallContext,
  ChunkStream,
  JsonObject,
  OpenAICompatibleProviderConfig,
  Provider,
} from '../types.js';

/**
 * Any server that speaks OpenAI's wire format: OpenAI itself, vLLM, Ollama, llama.cpp,
 * LM Studio, Groq, Together... Bodies and answers pass through as they are.
 */
export class OpenAICompatibleProvider implements Provider {
  readonly id: string;
  readonly responses?: Provider['responses'];
  private readonly http: HttpTransport;

  constructor(config: OpenAICompatibleProviderConfig) {
    this.id = config.id;
    const http = new HttpTransport({
      settings: config,
      authHeaders: (apiKey) => ({ authorization: `Bearer ${apiKey}` }),
    });
    this.http = http;
    if (config.responsesApi)
      this.responses = {
        create: (body, ctx) => http.json('POST', '/responses', body, ctx),
        stream: (body, ctx) => http.stream('/responses', body, ctx, readResponseEvents),
      };
  }

  chatCompletion(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    return this.http.json('POST', '/chat/completions', body, ctx);
  }

  chatCompletionStream(body: JsonObject, ctx: CallContext): Promise<ChunkStream> {
    return this.http.stream('/chat/completions', body, ctx, readSseData);
  }

  completion(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    return this.http.json('POST', '/completions', body, ctx);
  }

  completionStream(body: JsonObject, ctx: CallContext): Promise<ChunkStream> {
    return this.http.stream('/completions', body, ctx, readSseData);
  }

  embeddings(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    return this.http.json('POST', '/embeddings', body, ctx);
  }

  listModels(ctx: CallContext): Promise<JsonObject> {
    return this.http.json('GET', '/models', undefined, ctx);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
