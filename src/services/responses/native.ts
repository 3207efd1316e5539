import type { JsonObject } from '../../providers/types.js';
import type { Usage } from '../inference/usage.js';
import { responseUsage } from './response.js';
import type { ResponseStreamOptions } from './stream.js';

/**
 * The request a provider speaking the Responses API gets: the whole conversation as
 * `input` (earlier turns first) and `store: false`, so the upstream keeps no tenant's state
 * and `previous_response_id` stays the gateway's. Reasoning items without their encrypted
 * content cannot be sent back to an upstream that stored nothing, so they stay out.
 */
export function toNativeRequest(body: JsonObject, items: readonly JsonObject[]): JsonObject {
  const {
    previous_response_id: _previous,
    stream: _stream,
    store: _store,
    background: _background,
    conversation: _conversation,
    prompt: _prompt,
    ...rest
  } = body;
  const input = items.filter(
    (item) => item.type !== 'reasoning' || typeof item.encrypted_content === 'string',
  );
  return { ...rest, input, store: false };
}

/**
 * The upstream's response as ours: its output, status, usage and model, under the id, time,
 * `store` and `previous_response_id` the gateway gave it. `usage` (the gateway's count)
 * stands in when the upstream reported none.
 */
export function fromNativeResponse(
  shell: JsonObject,
  upstream: JsonObject,
  usage: Usage | null,
): JsonObject {
  const own = {
    id: shell.id,
    created_at: shell.created_at,
    store: shell.store,
    previous_response_id: shell.previous_response_id,
    metadata: shell.metadata,
  };
  const counted = upstream.usage === undefined && usage !== null && { usage: responseUsage(usage) };
  return { ...shell, ...upstream, ...own, ...counted };
}

const TERMINAL = new Set(['response.completed', 'response.incomplete']);

/**
 * A native upstream's typed events as the client's: passed on in order, renumbered, every
 * snapshot of the response under the gateway's id. The terminal event waits for the
 * relay's `[DONE]` (the usage is accounted by then) and for the response to be stored.
 */
export async function* nativeResponseEvents(
  frames: AsyncIterable<string> | Iterable<string>,
  options: ResponseStreamOptions,
): AsyncGenerator<string> {
  let sequence = 0;
  const event = (type: string, data: JsonObject) =>
    `event: ${type}\ndata: ${JSON.stringify({ ...data, type, sequence_number: sequence++ })}\n\n`;
  let terminal: JsonObject | null = null;
  let latest: JsonObject = options.shell;
  const fail = function* (error: JsonObject) {
    const message = typeof error.message === 'string' ? error.message : 'The stream failed.';
    const code = typeof error.code === 'string' ? error.code : null;
    const response = {
      ...latest,
      status: 'failed',
      error: { code: code === 'rate_limit_exceeded' ? code : 'server_error', message },
    };
    yield event('response.failed', { response });
    yield event('error', { code, message, param: null });
  };
  for await (const frame of frames) {
    const data = frame.startsWith('data: ') ? frame.slice(6).trim() : '';
    if (data === '[DONE]') {
      if (terminal === null) {
        yield* fail({ code: 'upstream_error', message: 'The upstream sent no final response.' });
        return;
      }
      const usage = (await options.usage?.()) ?? null;
      const response = fromNativeResponse(options.shell, terminal.response as JsonObject, usage);
      try {
        await options.finished(response);
      } catch {
        yield* fail({ code: 'internal_error', message: 'The response could not be stored.' });
        return;
      }
      yield event(String(terminal.type), { ...terminal, response });
      return;
    }
    let chunk: JsonObject;
    try {
      chunk = JSON.parse(data) as JsonObject;
    } catch {
      continue;
    }
    // The relay's own failure frame: the upstream failed, or the stream was cut.
    if (chunk.error !== undefined && chunk.type === undefined) {
      yield* fail(chunk.error as JsonObject);
      return;
    }
    const type = String(chunk.type);
    if (TERMINAL.has(type) && isObject(chunk.response)) {
      terminal = chunk;
      continue;
    }
    if (isObject(chunk.response)) {
      latest = fromNativeResponse(options.shell, chunk.response, null);
      chunk = { ...chunk, response: latest };
    }
    yield event(type, chunk);
  }
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * A response as the chat answer the translated path would have had, for the response cache:
 * its entries stay chat answers whichever path filled them, so every API can serve them.
 */
export function chatCompletionOf(response: JsonObject): JsonObject {
  const output = Array.isArray(response.output) ? (response.output as JsonObject[]) : [];
  let content = '';
  let refusal: string | null = null;
  const calls: JsonObject[] = [];
  for (const item of output) {
    if (item.type === 'message' && Array.isArray(item.content))
      for (const part of item.content as JsonObject[]) {
        if (part.type === 'output_text' && typeof part.text === 'string') content += part.text;
        if (part.type === 'refusal' && typeof part.refusal === 'string')
          refusal = (refusal ?? '') + part.refusal;
      }
    if (item.type === 'function_call')
      calls.push({
        id: item.call_id,
        type: 'function',
        function: { name: item.name, arguments: item.arguments },
      });
  }
  const reason = (response.incomplete_details as { reason?: unknown } | null)?.reason;
  const finish =
    calls.length > 0
      ? 'tool_calls'
      : reason === 'max_output_tokens'
        ? 'length'
        : reason === 'content_filter'
          ? 'content_filter'
          : 'stop';
  const usage = response.usage as JsonObject | undefined;
  return {
    id: `chatcmpl-${String(response.id)}`,
    object: 'chat.completion',
    created: response.created_at,
    model: response.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: content === '' && calls.length > 0 ? null : content,
          refusal,
          ...(calls.length > 0 && { tool_calls: calls }),
        },
        finish_reason: finish,
      },
    ],
    ...(usage !== undefined && {
      usage: {
        prompt_tokens: usage.input_tokens,
        completion_tokens: usage.output_tokens,
        total_tokens: usage.total_tokens,
      },
    }),
  };
}
