import type { JsonObject } from '../../providers/types.js';
import type { Usage } from '../inference/usage.js';
import { chatCompletionOf } from '../responses/native.js';

type StreamCapability = 'chat' | 'completions';

interface ToolCall {
  id?: string;
  type: string;
  function: { name: string; arguments: string };
}

interface Choice {
  index: number;
  role: string;
  content: string | null;
  refusal: string | null;
  toolCalls: ToolCall[];
  finishReason: string | null;
}

const isObject = (value: unknown): value is JsonObject =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
const text = (value: unknown) => (typeof value === 'string' ? value : '');

function usageJson(usage: Usage) {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
    ...(usage.cachedTokens > 0 && {
      prompt_tokens_details: { cached_tokens: usage.cachedTokens },
    }),
  };
}

/**
 * Puts a streamed answer back together as the answer the same request would have got
 * without `stream`: the content, tool calls, finish reason of each choice, and the usage.
 * It reads the SSE frames the client was sent, so what is stored is what was delivered.
 */
export class StreamAssembler {
  private readonly choices = new Map<number, Choice>();
  private head: JsonObject = {};
  private done = false;
  /** A Responses API upstream's final response, when such an upstream streamed. */
  private native: JsonObject | null = null;

  constructor(private readonly capability: StreamCapability) {}

  /** One SSE frame as written to the client (`data: ...\n\n`). */
  add(frame: string): void {
    const data = frame.startsWith('data: ') ? frame.slice(6).trim() : '';
    if (data === '[DONE]') {
      this.done = true;
      return;
    }
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      return;
    }
    if (!isObject(chunk) || 'error' in chunk) return;
    if (chunk.type === 'response.completed' && isObject(chunk.response)) {
      this.native = chunk.response;
      return;
    }
    if (Object.keys(this.head).length === 0) {
      const { id, created, model, system_fingerprint: fingerprint } = chunk;
      this.head = {
        id,
        created,
        model,
        ...(fingerprint !== undefined && { system_fingerprint: fingerprint }),
      };
    }
    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    for (const raw of choices) if (isObject(raw)) this.addChoice(raw);
  }

  private choice(index: number): Choice {
    let choice = this.choices.get(index);
    if (choice === undefined) {
      choice = {
        index,
        role: 'assistant',
        content: null,
        refusal: null,
        toolCalls: [],
        finishReason: null,
      };
      this.choices.set(index, choice);
    }
    return choice;
  }

  private addChoice(raw: JsonObject): void {
    const choice = this.choice(typeof raw.index === 'number' ? raw.index : 0);
    if (typeof raw.finish_reason === 'string') choice.finishReason = raw.finish_reason;
    if (this.capability === 'completions') {
      if (typeof raw.text === 'string') choice.content = (choice.content ?? '') + raw.text;
      return;
    }
    const delta = isObject(raw.delta) ? raw.delta : {};
    if (typeof delta.role === 'string') choice.role = delta.role;
    if (typeof delta.content === 'string') choice.content = (choice.content ?? '') + delta.content;
    if (typeof delta.refusal === 'string') choice.refusal = (choice.refusal ?? '') + delta.refusal;
    const calls = Array.isArray(delta.tool_calls) ? delta.tool_calls : [];
    for (const call of calls) if (isObject(call)) this.addToolCall(choice, call);
  }

  private addToolCall(choice: Choice, call: JsonObject): void {
    const at = typeof call.index === 'number' ? call.index : choice.toolCalls.length;
    let known = choice.toolCalls[at];
    if (known === undefined) {
      known = { type: 'function', function: { name: '', arguments: '' } };
      choice.toolCalls[at] = known;
    }
    if (typeof call.id === 'string') known.id = call.id;
    if (typeof call.type === 'string') known.type = call.type;
    const fn = isObject(call.function) ? call.function : {};
    known.function.name += text(fn.name);
    known.function.arguments += text(fn.arguments);
  }

  /** The whole answer; null unless the stream reached its `[DONE]`. */
  answer(usage: Usage): JsonObject | null {
    if (!this.done) return null;
    if (this.native !== null) return { ...chatCompletionOf(this.native), usage: usageJson(usage) };
    const choices = [...this.choices.values()].sort((a, b) => a.index - b.index);
    const base = { ...this.head, usage: usageJson(usage) };
    if (this.capability === 'completions')
      return {
        ...base,
        object: 'text_completion',
        choices: choices.map((c) => ({
          index: c.index,
          text: c.content ?? '',
          logprobs: null,
          finish_reason: c.finishReason,
        })),
      };
    return {
      ...base,
      object: 'chat.completion',
      choices: choices.map((c) => ({
        index: c.index,
        message: {
          role: c.role,
          content: c.content,
          refusal: c.refusal,
          ...(c.toolCalls.length > 0 && { tool_calls: c.toolCalls.filter(Boolean) }),
        },
        logprobs: null,
        finish_reason: c.finishReason,
      })),
    };
  }
}

const sse = (data: unknown) =>
  `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

/**
 * A whole answer sent as the stream OpenAI would have sent: per choice a role chunk, the
 * content, the tool calls and a finish chunk; then the usage chunk if the client asked for
 * it (and `usage: null` on every other chunk, as OpenAI does then); then `[DONE]`.
 */
export function answerAsSse(
  capability: StreamCapability,
  answer: JsonObject,
  includeUsage: boolean,
): string[] {
  const { id, created, model, system_fingerprint: fingerprint } = answer;
  const object = capability === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const head = {
    id,
    object,
    created,
    model,
    ...(fingerprint !== undefined && { system_fingerprint: fingerprint }),
  };
  // Chat chunks carry `usage: null` until the usage chunk, as OpenAI sends them.
  const nullUsage = includeUsage && capability === 'chat';
  const frame = (choice: JsonObject) =>
    sse({ ...head, choices: [choice], ...(nullUsage && { usage: null }) });
  const frames: string[] = [];
  const choices = Array.isArray(answer.choices) ? answer.choices.filter(isObject) : [];
  for (const choice of choices) {
    const index = typeof choice.index === 'number' ? choice.index : 0;
    const finish = typeof choice.finish_reason === 'string' ? choice.finish_reason : 'stop';
    if (capability === 'completions') {
      if (text(choice.text) !== '')
        frames.push(frame({ index, text: choice.text, logprobs: null, finish_reason: null }));
      frames.push(frame({ index, text: '', logprobs: null, finish_reason: finish }));
      continue;
    }
    const message = isObject(choice.message) ? choice.message : {};
    const delta = (d: JsonObject, finishReason: string | null = null) =>
      frame({ index, delta: d, logprobs: null, finish_reason: finishReason });
    frames.push(
      delta({ role: typeof message.role === 'string' ? message.role : 'assistant', content: '' }),
    );
    if (text(message.content) !== '') frames.push(delta({ content: message.content }));
    if (text(message.refusal) !== '') frames.push(delta({ refusal: message.refusal }));
    const calls = Array.isArray(message.tool_calls) ? message.tool_calls.filter(isObject) : [];
    if (calls.length > 0)
      frames.push(delta({ tool_calls: calls.map((call, i) => ({ index: i, ...call })) }));
    frames.push(delta({}, finish));
  }
  if (includeUsage && answer.usage !== undefined)
    frames.push(sse({ ...head, choices: [], usage: answer.usage }));
  frames.push(sse('[DONE]'));
  return frames;
}
