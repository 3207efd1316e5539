import type { UsageMetadata } from '@langchain/core/messages';
import type { JsonObject } from '../types.js';
import {
  type CompletionIdentity,
  contentText,
  finishReason,
  type ModelOutput,
  openAIUsage,
  rawFinishReason,
  toolCallId,
} from './output.js';

/** A streamed piece of a tool call, as LangChain's AIMessageChunk carries it. */
export interface ToolCallChunk {
  id?: string;
  name?: string;
  args?: string;
  index?: number;
}

export interface StreamChunk extends ModelOutput {
  tool_call_chunks?: ToolCallChunk[];
}

export interface ChunkTranslatorOptions extends CompletionIdentity {
  includeUsage: boolean;
  /**
   * The upstream reports output tokens as a running total (Anthropic's message_delta), which
   * LangChain adds to the count of message_start: the largest value is the true one.
   */
  cumulativeOutput: boolean;
  /**
   * The integration always reports why the reply ended, so a stream without a reason was cut
   * short, even if it ended cleanly.
   */
  requireFinishReason: boolean;
}

/** The upstream's stream ended without saying why: a cut, not a finished answer. */
export class TruncatedReplyError extends Error {
  constructor() {
    super('stream ended without a finish reason');
    this.name = 'TruncatedReplyError';
  }
}

/**
 * Turns LangChain AIMessageChunks into OpenAI `chat.completion.chunk` JSON strings, one
 * choice, keeping a stable OpenAI index per tool call across its pieces.
 */
export class ChunkTranslator {
  private started = false;
  private readonly toolIndexes = new Map<string, number>();
  private lastToolIndex = -1;
  private raw: string | null = null;
  private usage: UsageMetadata | null = null;

  constructor(private readonly options: ChunkTranslatorOptions) {}

  push(chunk: StreamChunk): string[] {
    const out: string[] = [];
    if (!this.started) {
      this.started = true;
      out.push(this.frame({ role: 'assistant', content: '' }));
    }
    this.raw = rawFinishReason(chunk) ?? this.raw;
    if (chunk.usage_metadata) this.addUsage(chunk.usage_metadata);
    const text = contentText(chunk.content);
    if (text !== '') out.push(this.frame({ content: text }));
    const calls = (chunk.tool_call_chunks ?? []).map((piece) => this.toolDelta(piece));
    if (calls.length > 0) out.push(this.frame({ tool_calls: calls }));
    return out;
  }

  /** The finish chunk, then the usage chunk if asked for and known. */
  finish(): string[] {
    if (this.raw === null && this.options.requireFinishReason) throw new TruncatedReplyError();
    const out: string[] = [];
    if (!this.started) out.push(this.frame({ role: 'assistant', content: '' }));
    this.started = true;
    const reason = finishReason(this.raw, this.lastToolIndex >= 0);
    out.push(this.frame({}, reason));
    if (this.options.includeUsage && this.usage !== null) {
      out.push(JSON.stringify({ ...this.base(), choices: [], usage: openAIUsage(this.usage) }));
    }
    return out;
  }

  private toolDelta(piece: ToolCallChunk): JsonObject {
    // Anthropic numbers pieces by content block; Gemini sends whole calls with an id only.
    const key =
      piece.index !== undefined ? `i${piece.index}` : piece.id ? `id${piece.id}` : undefined;
    const known = key === undefined ? this.lastToolIndex : this.toolIndexes.get(key);
    if (known !== undefined && known >= 0) {
      return { index: known, function: { arguments: piece.args ?? '' } };
    }
    const index = ++this.lastToolIndex;
    if (key !== undefined) this.toolIndexes.set(key, index);
    return {
      index,
      id: piece.id || toolCallId(),
      type: 'function',
      function: { name: piece.name ?? '', arguments: piece.args ?? '' },
    };
  }

  private addUsage(next: UsageMetadata): void {
    const prev = this.usage;
    if (prev === null) {
      this.usage = next;
      return;
    }
    const output = this.options.cumulativeOutput
      ? Math.max(prev.output_tokens, next.output_tokens)
      : prev.output_tokens + next.output_tokens;
    const input = prev.input_tokens + next.input_tokens;
    const cacheRead = sumDefined(
      prev.input_token_details?.cache_read,
      next.input_token_details?.cache_read,
    );
    const reasoning = sumDefined(
      prev.output_token_details?.reasoning,
      next.output_token_details?.reasoning,
    );
    this.usage = {
      input_tokens: input,
      output_tokens: output,
      total_tokens: input + output,
      ...(cacheRead !== undefined && { input_token_details: { cache_read: cacheRead } }),
      ...(reasoning !== undefined && { output_token_details: { reasoning } }),
    };
  }

  private base(): JsonObject {
    const { id, created, model } = this.options;
    return { id, object: 'chat.completion.chunk', created, model };
  }

  private frame(delta: JsonObject, finish: string | null = null): string {
    return JSON.stringify({
      ...this.base(),
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(this.options.includeUsage && { usage: null }),
    });
  }
}

/** Adds counts that may be missing, keeping "not reported" apart from zero. */
function sumDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0);
}
