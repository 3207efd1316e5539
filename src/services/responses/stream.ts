import type { JsonObject } from '../../providers/types.js';
import { newId } from '../../utils/ids.js';
import { readUsage, type Usage } from '../inference/usage.js';
import { finishStatus, reasoningOf, reasoningTokens, responseUsage, textPart } from './response.js';

export interface ResponseStreamOptions {
  /** The response before the model answers (see responseShell). */
  shell: JsonObject;
  /** What was used, when the chunks reported nothing: the gateway's own count. */
  usage?: () => Promise<Usage | null>;
  /** Runs with the finished response before response.completed is sent (storing it). */
  finished: (response: JsonObject) => Promise<void>;
  now: () => number;
}

interface Delta {
  content?: unknown;
  reasoning_content?: unknown;
  reasoning?: unknown;
  tool_calls?: {
    index?: unknown;
    id?: unknown;
    function?: { name?: unknown; arguments?: unknown };
  }[];
}

type Open =
  | { kind: 'message'; item: JsonObject; text: string }
  | { kind: 'reasoning'; item: JsonObject; text: string }
  | { kind: 'call'; item: JsonObject; index: number };

/**
 * OpenAI chat chunk frames (`data: {...}`, `data: [DONE]`, a final `data: {"error":...}`) as
 * the Responses API's typed events, each with its sequence number. The response completes
 * only at `[DONE]`, which the gateway sends once the usage is accounted.
 */
export async function* toResponseEvents(
  frames: AsyncIterable<string> | Iterable<string>,
  options: ResponseStreamOptions,
): AsyncGenerator<string> {
  const state = new ResponseState(options.shell);
  yield state.event('response.created', { response: options.shell });
  yield state.event('response.in_progress', { response: options.shell });
  for await (const frame of frames) {
    const data = frame.startsWith('data: ') ? frame.slice(6).trim() : '';
    if (data === '[DONE]') {
      yield* state.close();
      const usage = state.usage ?? (await options.usage?.()) ?? null;
      const response = state.response(usage, options.now());
      try {
        await options.finished(response);
      } catch {
        // Answered and accounted, but not kept: the client must not count on continuing it.
        yield* state.fail({ code: 'internal_error', message: 'The response could not be stored.' });
        return;
      }
      const type = response.status === 'completed' ? 'response.completed' : 'response.incomplete';
      yield state.event(type, { response });
      return;
    }
    let chunk: JsonObject;
    try {
      chunk = JSON.parse(data) as JsonObject;
    } catch {
      continue;
    }
    if (chunk.error !== undefined) {
      yield* state.fail(chunk.error as JsonObject);
      return;
    }
    yield* state.chunk(chunk);
  }
}

/** One response's progress: its output items, which one is open. */
class ResponseState {
  usage: Usage | null = null;
  private sequence = 0;
  private readonly output: JsonObject[] = [];
  private open: Open | null = null;
  private finishReason: unknown = null;
  private reasoningTokens = 0;
  private model: unknown;

  constructor(private readonly shell: JsonObject) {
    this.model = shell.model;
  }

  event(type: string, data: JsonObject): string {
    const body = { type, ...data, sequence_number: this.sequence++ };
    return `event: ${type}\ndata: ${JSON.stringify(body)}\n\n`;
  }

  *chunk(chunk: JsonObject): Generator<string> {
    if (typeof chunk.model === 'string') this.model = chunk.model;
    this.usage = readUsage(chunk.usage) ?? this.usage;
    if (chunk.usage) this.reasoningTokens = reasoningTokens(chunk.usage);
    const choices = Array.isArray(chunk.choices) ? (chunk.choices as JsonObject[]) : [];
    const choice = choices.find((item) => (item.index ?? 0) === 0);
    if (choice === undefined) return;
    const delta = (choice.delta ?? {}) as Delta;
    const reasoning = reasoningOf(delta);
    if (reasoning !== null) yield* this.reasoning(reasoning);
    if (typeof delta.content === 'string' && delta.content !== '') yield* this.text(delta.content);
    for (const call of delta.tool_calls ?? []) yield* this.toolCall(call);
    if (choice.finish_reason !== null && choice.finish_reason !== undefined)
      this.finishReason = choice.finish_reason;
  }

  response(usage: Usage | null, now: number): JsonObject {
    const finish = finishStatus(this.finishReason);
    return {
      ...this.shell,
      ...finish,
      model: this.model,
      completed_at: finish.status === 'completed' ? now : null,
      output: this.output,
      usage: responseUsage(usage, this.reasoningTokens),
    };
  }

  /** OpenAI's failed stream: the failed response, then the error event its SDKs raise. */
  *fail(error: JsonObject): Generator<string> {
    const message = typeof error.message === 'string' ? error.message : 'The stream failed.';
    const code = typeof error.code === 'string' ? error.code : null;
    const response = {
      ...this.shell,
      status: 'failed',
      // What was sent of the item the failure cut, as the deltas already gave it.
      output: this.open === null ? this.output : [...this.output, this.partial(this.open)],
      error: { code: code === 'rate_limit_exceeded' ? code : 'server_error', message },
    };
    yield this.event('response.failed', { response });
    yield this.event('error', { code, message, param: null });
  }

  private partial(open: Open): JsonObject {
    if (open.kind === 'message')
      return { ...open.item, status: 'incomplete', content: [textPart(open.text)] };
    if (open.kind === 'reasoning')
      return { ...open.item, summary: [{ type: 'summary_text', text: open.text }] };
    return { ...open.item, status: 'incomplete' };
  }

  private where(item: JsonObject) {
    return { item_id: item.id, output_index: this.output.length };
  }

  private *start(open: Open): Generator<string> {
    yield* this.close();
    this.open = open;
    yield this.event('response.output_item.added', {
      output_index: this.output.length,
      item: open.item,
    });
  }

  private *reasoning(text: string): Generator<string> {
    if (this.open?.kind !== 'reasoning') {
      const item = { id: newId('rs'), type: 'reasoning', summary: [] };
      yield* this.start({ kind: 'reasoning', item, text: '' });
      const part = { type: 'summary_text', text: '' };
      yield this.event('response.reasoning_summary_part.added', {
        ...this.where(item),
        summary_index: 0,
        part,
      });
    }
    const open = this.open as Extract<Open, { kind: 'reasoning' }>;
    open.text += text;
    yield this.event('response.reasoning_summary_text.delta', {
      ...this.where(open.item),
      summary_index: 0,
      delta: text,
    });
  }

  private *text(text: string): Generator<string> {
    if (this.open?.kind !== 'message') {
      const item = {
        id: newId('msg'),
        type: 'message',
        role: 'assistant',
        status: 'in_progress',
        content: [],
      };
      yield* this.start({ kind: 'message', item, text: '' });
      yield this.event('response.content_part.added', {
        ...this.where(item),
        content_index: 0,
        part: textPart(''),
      });
    }
    const open = this.open as Extract<Open, { kind: 'message' }>;
    open.text += text;
    yield this.event('response.output_text.delta', {
      ...this.where(open.item),
      content_index: 0,
      delta: text,
      logprobs: [],
    });
  }

  private *toolCall(call: NonNullable<Delta['tool_calls']>[number]): Generator<string> {
    const index = typeof call.index === 'number' ? call.index : 0;
    const isNew = this.open?.kind !== 'call' || this.open.index !== index;
    const name = call.function?.name;
    // A call starts with its id and name; some servers send the name alone.
    if (isNew && (typeof call.id === 'string' || typeof name === 'string')) {
      const item = {
        id: newId('fc'),
        type: 'function_call',
        status: 'in_progress',
        call_id: typeof call.id === 'string' ? call.id : newId('call'),
        name: String(name ?? ''),
        arguments: '',
      };
      yield* this.start({ kind: 'call', item, index });
    }
    const delta = call.function?.arguments;
    if (this.open?.kind !== 'call' || typeof delta !== 'string' || delta === '') return;
    this.open.item.arguments = `${String(this.open.item.arguments)}${delta}`;
    yield this.event('response.function_call_arguments.delta', {
      ...this.where(this.open.item),
      delta,
    });
  }

  *close(): Generator<string> {
    const open = this.open;
    if (open === null) return;
    const where = this.where(open.item);
    let item: JsonObject;
    if (open.kind === 'message') {
      const part = textPart(open.text);
      yield this.event('response.output_text.done', {
        ...where,
        content_index: 0,
        text: open.text,
        logprobs: [],
      });
      yield this.event('response.content_part.done', { ...where, content_index: 0, part });
      item = { ...open.item, status: 'completed', content: [part] };
    } else if (open.kind === 'reasoning') {
      const part = { type: 'summary_text', text: open.text };
      yield this.event('response.reasoning_summary_text.done', {
        ...where,
        summary_index: 0,
        text: open.text,
      });
      yield this.event('response.reasoning_summary_part.done', {
        ...where,
        summary_index: 0,
        part,
      });
      item = { ...open.item, summary: [part] };
    } else {
      yield this.event('response.function_call_arguments.done', {
        ...where,
        name: open.item.name,
        arguments: open.item.arguments,
      });
      item = { ...open.item, status: 'completed' };
    }
    yield this.event('response.output_item.done', { output_index: where.output_index, item });
    this.output.push(item);
    this.open = null;
  }
}
