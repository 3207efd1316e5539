import { UpstreamError } from '../errors.js';
import type { ServerSentEvent } from '../sse.js';
import type { JsonObject } from '../types.js';
import { statusOfErrorType, toOpenAIErrorBody } from './errors.js';
import { type AnthropicUsage, finishReason, nowSeconds, toOpenAIUsage } from './response.js';

export interface ChunkOptions {
  providerId: string;
  /** Add OpenAI's final usage chunk (`choices: []`), as `stream_options.include_usage` asks. */
  includeUsage: boolean;
  created?: number;
}

/** `message_stop` is Anthropic's end of stream; it sends no `[DONE]`. */
export const isMessageStop = (event: ServerSentEvent) => event.event === 'message_stop';

/**
 * Anthropic's stream events (up to, not including, `message_stop`) as OpenAI
 * `chat.completion.chunk` JSON strings. An `error` event ends the stream with an
 * UpstreamError carrying the status its type stands for.
 */
export async function* toChatCompletionChunks(
  events: AsyncIterable<ServerSentEvent>,
  options: ChunkOptions,
): AsyncGenerator<string> {
  const builder = new ChunkBuilder(options);
  for await (const event of events) {
    yield* builder.handle(event.event, parseEvent(event, options.providerId));
  }
  if (options.includeUsage) yield builder.usageChunk();
}

function parseEvent(event: ServerSentEvent, providerId: string): JsonObject {
  try {
    const data: unknown = JSON.parse(event.data);
    if (data !== null && typeof data === 'object' && !Array.isArray(data))
      return data as JsonObject;
  } catch {
    // Falls through to the same failure as a non-object.
  }
  throw new UpstreamError(providerId, { kind: 'protocol', detail: 'malformed stream event' });
}

interface Block {
  type?: unknown;
  text?: unknown;
  id?: unknown;
  name?: unknown;
}

interface Delta {
  type?: unknown;
  text?: unknown;
  partial_json?: unknown;
  stop_reason?: unknown;
}

/** The state one stream needs: the message's identity, tool call numbering, usage so far. */
class ChunkBuilder {
  private id = '';
  private model = '';
  private readonly created: number;
  private usage: AnthropicUsage = {};
  /** Content block index -> tool call index: OpenAI counts tool calls, not blocks. */
  private readonly toolCalls = new Map<number, number>();

  constructor(private readonly options: ChunkOptions) {
    this.created = options.created ?? nowSeconds();
  }

  handle(name: string | undefined, data: JsonObject): string[] {
    switch (name ?? data.type) {
      case 'message_start': {
        const message = (data.message ?? {}) as JsonObject;
        this.id = String(message.id);
        this.model = String(message.model);
        this.usage = { ...(message.usage as AnthropicUsage | undefined) };
        return [this.chunk({ role: 'assistant', content: '' })];
      }
      case 'content_block_start':
        return this.blockStart(Number(data.index), (data.content_block ?? {}) as Block);
      case 'content_block_delta':
        return this.blockDelta(Number(data.index), (data.delta ?? {}) as Delta);
      case 'message_delta': {
        // Counts here are cumulative: they replace those of message_start.
        this.usage = { ...this.usage, ...numbers(data.usage) };
        const delta = (data.delta ?? {}) as Delta;
        return [this.chunk({}, finishReason(delta.stop_reason))];
      }
      case 'error':
        throw new UpstreamError(this.options.providerId, {
          kind: 'http',
          status: statusOfErrorType((data.error as { type?: unknown } | undefined)?.type),
          body: toOpenAIErrorBody(data),
          retryAfter: null,
        });
      default:
        // ping, content_block_stop, and blocks OpenAI has no place for (thinking).
        return [];
    }
  }

  usageChunk(): string {
    return JSON.stringify({ ...this.frame(), choices: [], usage: toOpenAIUsage(this.usage) });
  }

  private blockStart(index: number, block: Block): string[] {
    if (block.type === 'text' && typeof block.text === 'string' && block.text !== '') {
      return [this.chunk({ content: block.text })];
    }
    if (block.type !== 'tool_use') return [];
    const toolIndex = this.toolCalls.size;
    this.toolCalls.set(index, toolIndex);
    const call = { name: String(block.name), arguments: '' };
    return [
      this.chunk({
        tool_calls: [{ index: toolIndex, id: String(block.id), type: 'function', function: call }],
      }),
    ];
  }

  private blockDelta(index: number, delta: Delta): string[] {
    if (delta.type === 'text_delta' && typeof delta.text === 'string') {
      return [this.chunk({ content: delta.text })];
    }
    const toolIndex = this.toolCalls.get(index);
    const json = delta.partial_json;
    if (delta.type !== 'input_json_delta' || toolIndex === undefined) return [];
    if (typeof json !== 'string' || json === '') return [];
    return [this.chunk({ tool_calls: [{ index: toolIndex, function: { arguments: json } }] })];
  }

  private frame(): JsonObject {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
    };
  }

  private chunk(delta: JsonObject, finish: string | null = null): string {
    return JSON.stringify({
      ...this.frame(),
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      // OpenAI sends usage: null on every chunk when usage was asked for.
      ...(this.options.includeUsage && { usage: null }),
    });
  }
}

function numbers(value: unknown): AnthropicUsage {
  if (value === null || typeof value !== 'object') return {};
  return Object.fromEntries(
    Object.entries(value).filter(([, count]) => typeof count === 'number'),
  ) as AnthropicUsage;
}
