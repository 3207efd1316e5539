import type { ServerResponse } from 'node:http';
import {
  type FakeUpstream,
  json,
  type RecordedRequest,
  type Script,
  sleep,
} from './fake-upstream.js';

/**
 * Anthropic's Messages API wire format, for scripting FakeUpstream as an Anthropic upstream:
 * non-streamed messages, SSE event sequences (`event: X` + `data: {json}`), error bodies.
 */

export interface AnthropicToolUse {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export type AnthropicStopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'pause_turn'
  | 'refusal';

export interface AnthropicReplyOptions {
  text?: string;
  toolUses?: AnthropicToolUse[];
  /** Defaults to the model the request named, else `claude-test`. */
  model?: string;
  id?: string;
  inputTokens?: number;
  outputTokens?: number;
  cacheReadTokens?: number;
  cacheCreationTokens?: number;
  /** Defaults to `tool_use` when there are tool uses, else `end_turn`. */
  stopReason?: AnthropicStopReason;
  stopSequence?: string;
}

export interface AnthropicStreamOptions extends AnthropicReplyOptions {
  /** End the connection abruptly after this many events (no `message_stop`). */
  cutAfterEvents?: number;
  /** End the response cleanly after this many events, as a proxy closing early would. */
  endAfterEvents?: number;
  /** Send an `error` event after this many events, then end the stream (as Anthropic does). */
  errorAfterEvents?: { events: number; type: string; message: string };
  /** Delay before each event, in milliseconds. */
  gapMs?: number;
}

export interface AnthropicEvent {
  event: string;
  data: Record<string, unknown>;
}

type Block = Record<string, unknown>;

function contentBlocks(options: AnthropicReplyOptions): Block[] {
  const blocks: Block[] = [];
  if (options.text !== undefined) blocks.push({ type: 'text', text: options.text });
  for (const tool of options.toolUses ?? []) {
    blocks.push({ type: 'tool_use', id: tool.id, name: tool.name, input: tool.input });
  }
  return blocks;
}

function stopReason(options: AnthropicReplyOptions): AnthropicStopReason {
  if (options.stopReason) return options.stopReason;
  return options.toolUses?.length ? 'tool_use' : 'end_turn';
}

function usage(options: AnthropicReplyOptions, outputTokens: number): Record<string, unknown> {
  return {
    input_tokens: options.inputTokens ?? 12,
    cache_creation_input_tokens: options.cacheCreationTokens ?? 0,
    cache_read_input_tokens: options.cacheReadTokens ?? 0,
    output_tokens: outputTokens,
    service_tier: 'standard',
  };
}

function modelOf(options: AnthropicReplyOptions, req?: RecordedRequest | null): string {
  const requested = req?.body?.model;
  return options.model ?? (typeof requested === 'string' ? requested : 'claude-test');
}

/** The body of a non-streamed Messages response. */
export function anthropicMessageBody(
  options: AnthropicReplyOptions,
  req?: RecordedRequest | null,
): Record<string, unknown> {
  return {
    id: options.id ?? 'msg_01FakeUpstream',
    type: 'message',
    role: 'assistant',
    model: modelOf(options, req),
    content: contentBlocks(options),
    stop_reason: stopReason(options),
    stop_sequence: options.stopSequence ?? null,
    usage: usage(options, options.outputTokens ?? 7),
  };
}

/** Splits a string into `parts` roughly equal pieces (at least one, possibly empty). */
export function splitInto(text: string, parts: number): string[] {
  if (text.length === 0) return [''];
  const size = Math.max(1, Math.ceil(text.length / parts));
  const pieces: string[] = [];
  for (let at = 0; at < text.length; at += size) pieces.push(text.slice(at, at + size));
  return pieces;
}

const ev = (event: string, data: Record<string, unknown>): AnthropicEvent => ({
  event,
  data: { type: event, ...data },
});

function blockEvents(block: Block, index: number): AnthropicEvent[] {
  if (block.type === 'text') {
    const deltas = splitInto(block.text as string, 3).map((text) =>
      ev('content_block_delta', { index, delta: { type: 'text_delta', text } }),
    );
    return [
      ev('content_block_start', { index, content_block: { type: 'text', text: '' } }),
      ...deltas,
      ev('content_block_stop', { index }),
    ];
  }
  const { input, ...start } = block;
  // Anthropic opens a tool's input with an empty partial, then sends the JSON in pieces.
  const partials = ['', ...splitInto(JSON.stringify(input), 3)].map((partial_json) =>
    ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json } }),
  );
  return [
    ev('content_block_start', { index, content_block: { ...start, input: {} } }),
    ...partials,
    ev('content_block_stop', { index }),
  ];
}

/** The full event sequence of a streamed Messages response, as Anthropic sends it. */
export function anthropicStreamEvents(
  options: AnthropicReplyOptions,
  req?: RecordedRequest | null,
): AnthropicEvent[] {
  const message = anthropicMessageBody(options, req);
  const blocks = message.content as Block[];
  const events = [
    ev('message_start', {
      message: {
        ...message,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: usage(options, 1),
      },
    }),
  ];
  blocks.forEach((block, index) => {
    const [start, ...rest] = blockEvents(block, index);
    events.push(start as AnthropicEvent);
    if (index === 0) events.push(ev('ping', {}));
    events.push(...rest);
  });
  events.push(
    ev('message_delta', {
      delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence },
      usage: { output_tokens: options.outputTokens ?? 7 },
    }),
    ev('message_stop', {}),
  );
  return events;
}

/** Writes Anthropic SSE events: `event: <name>\ndata: <json>\n\n`. */
export async function writeAnthropicEvents(
  res: ServerResponse,
  events: AnthropicEvent[],
  options: Pick<
    AnthropicStreamOptions,
    'cutAfterEvents' | 'endAfterEvents' | 'errorAfterEvents' | 'gapMs'
  > = {},
): Promise<void> {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'request-id': 'req_fake_stream',
  });
  for (const [index, event] of events.entries()) {
    if (options.cutAfterEvents === index) {
      res.destroy();
      return;
    }
    if (options.endAfterEvents === index) break;
    if (options.errorAfterEvents?.events === index) {
      const { type, message } = options.errorAfterEvents;
      res.end(frame(ev('error', { error: { type, message } })));
      return;
    }
    if (options.gapMs) await sleep(options.gapMs);
    if (res.destroyed) return;
    // Waiting for each write to be flushed makes a later cut land after these events.
    await new Promise<void>((resolve) => res.write(frame(event), () => resolve()));
  }
  res.end();
}

const frame = ({ event, data }: AnthropicEvent) =>
  `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** Answers with a non-streamed Messages response. */
export function anthropicMessage(options: AnthropicReplyOptions = {}): Script {
  return (req, res) =>
    json(res, 200, anthropicMessageBody(options, req), { 'request-id': 'req_fake_message' });
}

/** Answers with the full SSE event sequence of a streamed Messages response. */
export function anthropicStream(options: AnthropicStreamOptions = {}): Script {
  return (req, res) => writeAnthropicEvents(res, anthropicStreamEvents(options, req), options);
}

/** Answers with Anthropic's error body, e.g. (429, 'rate_limit_error', '...', {'retry-after': '7'}). */
export function anthropicError(
  status: number,
  type: string,
  message: string,
  headers: Record<string, string> = {},
): Script {
  return (_req, res) =>
    json(
      res,
      status,
      { type: 'error', error: { type, message } },
      {
        'request-id': 'req_fake_error',
        ...headers,
      },
    );
}

/** The fake's URL without its `/v1`: Anthropic clients append `/v1/messages` themselves. */
export function anthropicBaseUrl(fake: FakeUpstream): string {
  return fake.url.replace(/\/v1$/, '');
}
