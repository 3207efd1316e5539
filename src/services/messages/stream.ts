import type { JsonObject } from '../../providers/types.js';
import { readUsage, type Usage } from '../inference/usage.js';
import { anthropicErrorOfBody } from './errors.js';
import { anthropicUsage, messageId, stopReason } from './response.js';

export interface MessageStreamOptions {
  stopSequences: readonly string[];
  /** What was used, when the chunks reported nothing: the gateway's own count. */
  usage?: () => Promise<Usage | null>;
}

const event = (name: string, data: JsonObject) =>
  `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;

interface Delta {
  content?: unknown;
  tool_calls?: {
    index?: unknown;
    id?: unknown;
    function?: { name?: unknown; arguments?: unknown };
  }[];
}

/**
 * OpenAI chat chunk frames (`data: {...}`, `data: [DONE]`, a final `data: {"error":...}`) as
 * Anthropic's stream events. The message ends only at `[DONE]`, which the gateway sends once
 * the usage is accounted: message_delta (stop reason and usage) and message_stop come last.
 */
export async function* toMessageEvents(
  frames: AsyncIterable<string> | Iterable<string>,
  options: MessageStreamOptions,
): AsyncGenerator<string> {
  const state = new MessageState(options.stopSequences);
  for await (const frame of frames) {
    const data = frame.startsWith('data: ') ? frame.slice(6).trim() : '';
    if (data === '[DONE]') {
      const usage = state.usage ?? (await options.usage?.()) ?? null;
      yield* state.finish(usage);
      return;
    }
    let chunk: JsonObject;
    try {
      chunk = JSON.parse(data) as JsonObject;
    } catch {
      continue;
    }
    if (chunk.error !== undefined) {
      // Anthropic ends a failed stream with an error event and no message_stop.
      yield event('error', { error: anthropicErrorOfBody(chunk).error });
      return;
    }
    yield* state.chunk(chunk);
  }
}

/** One message's progress: which block is open, which tool call is which block. */
class MessageState {
  usage: Usage | null = null;
  private started = false;
  private blocks = 0;
  private open: { kind: 'text' } | { kind: 'tool'; call: number } | null = null;
  private finishReason: unknown = null;
  private matched: unknown = null;

  constructor(private readonly stopSequences: readonly string[]) {}

  *chunk(chunk: JsonObject): Generator<string> {
    if (!this.started) {
      this.started = true;
      yield event('message_start', {
        message: {
          id: messageId(chunk.id),
          type: 'message',
          role: 'assistant',
          model: chunk.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          // Known at the end only: message_delta carries the counts.
          usage: { input_tokens: 0, output_tokens: 0 },
        },
      });
      yield event('ping', {});
    }
    this.usage = readUsage(chunk.usage) ?? this.usage;
    const choices = Array.isArray(chunk.choices) ? (chunk.choices as JsonObject[]) : [];
    // One message: Anthropic has no `n`, and the request never asks for more than one.
    const choice = choices.find((item) => (item.index ?? 0) === 0);
    if (choice === undefined) return;
    const delta = (choice.delta ?? {}) as Delta;
    if (typeof delta.content === 'string' && delta.content !== '') yield* this.text(delta.content);
    for (const call of delta.tool_calls ?? []) yield* this.toolCall(call);
    if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
      this.finishReason = choice.finish_reason;
      this.matched = choice.stop_reason;
    }
  }

  *finish(usage: Usage | null): Generator<string> {
    // A stream that ended before any chunk is still a whole (empty) message.
    if (!this.started) yield* this.chunk({});
    yield* this.close();
    yield event('message_delta', {
      delta: stopReason(this.finishReason, this.matched, this.stopSequences),
      usage: anthropicUsage(usage),
    });
    yield event('message_stop', {});
  }

  private *text(text: string): Generator<string> {
    if (this.open?.kind !== 'text') {
      yield* this.close();
      yield this.start({ type: 'text', text: '' }, { kind: 'text' });
    }
    yield this.delta({ type: 'text_delta', text });
  }

  private *toolCall(call: NonNullable<Delta['tool_calls']>[number]): Generator<string> {
    const index = typeof call.index === 'number' ? call.index : 0;
    const isNew = this.open?.kind !== 'tool' || this.open.call !== index;
    const name = call.function?.name;
    // A call starts with its id and name; some servers send the name alone.
    if (isNew && (typeof call.id === 'string' || typeof name === 'string')) {
      yield* this.close();
      const id = typeof call.id === 'string' ? call.id : `toolu_${this.blocks}`;
      const block = { type: 'tool_use', id, name: String(name), input: {} };
      yield this.start(block, { kind: 'tool', call: index });
    }
    const json = call.function?.arguments;
    if (this.open?.kind === 'tool' && typeof json === 'string' && json !== '')
      yield this.delta({ type: 'input_json_delta', partial_json: json });
  }

  private start(block: JsonObject, open: NonNullable<MessageState['open']>): string {
    this.open = open;
    return event('content_block_start', { index: this.blocks, content_block: block });
  }

  private delta(delta: JsonObject): string {
    return event('content_block_delta', { index: this.blocks, delta });
  }

  private *close(): Generator<string> {
    if (this.open === null) return;
    yield event('content_block_stop', { index: this.blocks });
    this.open = null;
    this.blocks += 1;
  }
}
