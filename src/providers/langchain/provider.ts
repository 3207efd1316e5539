import type { BaseLanguageModelInput } from '@langchain/core/language_models/base';
import type { AIMessageChunk } from '@langchain/core/messages';
import type {
  CallContext,
  ChunkStream,
  JsonObject,
  LangChainProviderConfig,
  Provider,
} from '../types.js';
import { embeddingInputs, encodingFormat, toEmbeddingList } from './embeddings.js';
import { InvalidRequest, toUpstreamError } from './errors.js';
import { type LangChainClasses, loadLangChainClasses } from './load-class.js';
import { toLangChainMessages } from './messages.js';
import { ModelInstances } from './models.js';
import { emptyContentReply, type ModelOutput, toChatCompletion } from './output.js';
import { bindToolsKwargs, readSampling, readTools, refuseUnsupported } from './request.js';
import { ChunkTranslator } from './stream.js';

/**
 * Integrations known to end every complete stream with a finish reason (`_llmType()`). Not
 * Gemini: LangChain drops its content-less final candidates, finish reason and all.
 */
const REPORTS_FINISH_REASON = new Set(['anthropic']);

/** What a chat model or its bindTools result offers: both are LangChain Runnables. */
interface ChatRunnable {
  invoke(input: BaseLanguageModelInput, options?: Record<string, unknown>): Promise<AIMessageChunk>;
  stream(
    input: BaseLanguageModelInput,
    options?: Record<string, unknown>,
  ): Promise<AsyncIterable<AIMessageChunk>>;
}

interface PreparedCall {
  runnable: ChatRunnable;
  input: BaseLanguageModelInput;
  options: Record<string, unknown>;
  llmType: string;
}

/**
 * Any LangChain.js chat model (Anthropic, Gemini, Bedrock...) behind OpenAI's wire format:
 * requests are translated into LangChain messages and call options, replies and stream
 * chunks back into OpenAI's shapes. The package is imported once, at first use.
 */
export class LangChainProvider implements Provider {
  readonly id: string;
  private classes: Promise<LangChainClasses> | null;
  private readonly instances: ModelInstances;

  /** `classes`, when given, are what loadLangChainClasses returned at start-up. */
  constructor(
    private readonly config: LangChainProviderConfig,
    classes?: LangChainClasses,
  ) {
    this.id = config.id;
    this.classes = classes ? Promise.resolve(classes) : null;
    this.instances = new ModelInstances(config);
  }

  async chatCompletion(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    const call = await this.prepare(body, ctx);
    let message: ModelOutput;
    try {
      message = await abortable(call.runnable.invoke(call.input, call.options), ctx.signal);
    } catch (error) {
      const blocked = emptyContentReply(error);
      if (blocked === null || ctx.signal.aborted) throw this.failure(error, ctx);
      message = blocked;
    }
    return toChatCompletion(message, identity(body, ctx));
  }

  async chatCompletionStream(body: JsonObject, ctx: CallContext): Promise<ChunkStream> {
    const call = await this.prepare(body, ctx);
    const options = isObject(body.stream_options) ? body.stream_options : {};
    const translator = new ChunkTranslator({
      ...identity(body, ctx),
      includeUsage: options.include_usage === true,
      cumulativeOutput: call.llmType === 'anthropic',
      requireFinishReason: REPORTS_FINISH_REASON.has(call.llmType),
    });
    let stream: AsyncIterable<AIMessageChunk>;
    try {
      // LangChain's stream() waits for the first chunk, so an HTTP error surfaces here.
      stream = await call.runnable.stream(call.input, call.options);
    } catch (error) {
      throw this.failure(error, ctx);
    }
    return this.chunks(stream, translator, ctx);
  }

  completion(_body: JsonObject, _ctx: CallContext): Promise<JsonObject> {
    return Promise.reject(toUpstreamError(this.id, legacyCompletions()));
  }

  completionStream(_body: JsonObject, _ctx: CallContext): Promise<ChunkStream> {
    return Promise.reject(toUpstreamError(this.id, legacyCompletions()));
  }

  async embeddings(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    try {
      const inputs = embeddingInputs(body.input);
      const format = encodingFormat(body.encoding_format);
      const { embeddings } = await this.loaded();
      if (embeddings === null)
        throw new InvalidRequest('This model does not support embeddings.', 'model');
      const dimensions = typeof body.dimensions === 'number' ? body.dimensions : undefined;
      const model = String(body.model);
      const embedder = this.instances.embeddings(embeddings, model, this.key(ctx), dimensions);
      // embedDocuments takes no signal: the client going away stops the wait, not the call.
      const vectors = await abortable(embedder.embedDocuments(inputs), ctx.signal);
      return toEmbeddingList(vectors, model, format);
    } catch (error) {
      throw this.failure(error, ctx);
    }
  }

  /** The configured model only: LangChain classes have no common way to list models. */
  async listModels(_ctx: CallContext): Promise<JsonObject> {
    const { model, modelName } = this.config.options;
    const id = typeof model === 'string' ? model : typeof modelName === 'string' ? modelName : null;
    const data = id === null ? [] : [{ id, object: 'model', created: 0, owned_by: this.id }];
    return { object: 'list', data };
  }

  async close(): Promise<void> {
    this.instances.clear();
  }

  private loaded(): Promise<LangChainClasses> {
    this.classes ??= loadLangChainClasses(this.config);
    return this.classes;
  }

  private key(ctx: CallContext): string | null {
    return ctx.apiKey ?? this.config.apiKey;
  }

  private async prepare(body: JsonObject, ctx: CallContext): Promise<PreparedCall> {
    try {
      refuseUnsupported(body);
      const input = toLangChainMessages(body.messages);
      const sampling = readSampling(body);
      const tools = readTools(body);
      const { chat } = await this.loaded();
      if (chat === null) throw new InvalidRequest('This model does not support chat.', 'model');
      const { model, callOptions } = this.instances.chat(
        chat,
        String(body.model),
        this.key(ctx),
        sampling,
      );
      const llmType = model._llmType();
      let runnable: ChatRunnable = model;
      if (tools !== null) {
        if (model.bindTools === undefined)
          throw new InvalidRequest('This model does not support tools.', 'tools');
        runnable = model.bindTools(tools.tools, bindToolsKwargs(tools, llmType));
      }
      return { runnable, input, options: { ...callOptions, signal: ctx.signal }, llmType };
    } catch (error) {
      throw this.failure(error, ctx);
    }
  }

  private async *chunks(
    stream: AsyncIterable<AIMessageChunk>,
    translator: ChunkTranslator,
    ctx: CallContext,
  ): ChunkStream {
    let phase: 'first_byte' | 'idle' = 'first_byte';
    try {
      // Leaving this loop early (client gone) returns LangChain's iterator, which cancels
      // the upstream read.
      for await (const chunk of stream) {
        phase = 'idle';
        yield* translator.push(chunk);
      }
      yield* translator.finish();
    } catch (error) {
      throw this.failure(error, ctx, phase);
    }
  }

  /** An abort by our own signal is rethrown as it is, as the HTTP providers do. */
  private failure(error: unknown, ctx: CallContext, phase?: 'first_byte' | 'idle'): unknown {
    if (ctx.signal.aborted) return error;
    return toUpstreamError(this.id, error, phase);
  }
}

function legacyCompletions(): InvalidRequest {
  return new InvalidRequest(
    'This model supports chat completions only; use /v1/chat/completions.',
    'model',
  );
}

function identity(body: JsonObject, ctx: CallContext) {
  return {
    id: `chatcmpl-${ctx.requestId}`,
    created: Math.floor(Date.now() / 1000),
    model: String(body.model),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Settles with the promise, or rejects at once when the signal aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
