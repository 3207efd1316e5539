import type { ServerResponse } from 'node:http';
import { json, type RecordedRequest, type Script, sleep } from './fake-upstream.js';

/**
 * OpenAI's Responses API wire format, for scripting FakeUpstream as an upstream that serves
 * `/v1/responses` itself: whole responses, and the typed event streams (`event: X` and
 * `data: {json}`, numbered, no `[DONE]`), as OpenAI sends them.
 */

export interface UpstreamResponseOptions {
  text?: string;
  /** One function call instead of text. */
  call?: { name: string; arguments: string; callId: string };
  /** Counted by the upstream; none: no `usage` at all. */
  usage?: { input: number; output: number } | null;
  status?: 'completed' | 'incomplete';
}

const USAGE = { input: 11, output: 5 };

function usageOf(usage: { input: number; output: number }) {
  return {
    input_tokens: usage.input,
    input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
    output_tokens: usage.output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.input + usage.output,
  };
}

function outputOf(options: UpstreamResponseOptions, status: string) {
  if (options.call !== undefined)
    return [
      {
        id: 'fc_upstream',
        type: 'function_call',
        status: 'completed',
        call_id: options.call.callId,
        name: options.call.name,
        arguments: options.call.arguments,
      },
    ];
  const text = options.text ?? 'Hello from upstream.';
  return [
    {
      id: 'msg_upstream',
      type: 'message',
      role: 'assistant',
      status,
      content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
    },
  ];
}

/** A `response` as OpenAI's API sends it, for the request the upstream received. */
export function upstreamResponse(
  request: RecordedRequest,
  options: UpstreamResponseOptions = {},
  stage: 'created' | 'done' = 'done',
): Record<string, unknown> {
  const body = request.body ?? {};
  const status = stage === 'created' ? 'in_progress' : (options.status ?? 'completed');
  const usage = options.usage === undefined ? USAGE : options.usage;
  return {
    id: 'resp_upstream_0001',
    object: 'response',
    created_at: 1_700_000_000,
    status,
    background: false,
    completed_at: status === 'completed' ? 1_700_000_001 : null,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: `${String(body.model)}-2025-01-01`,
    output: stage === 'created' ? [] : outputOf(options, status),
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: { format: { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: 1,
    truncation: 'disabled',
    // Absent, not null, until known: OpenAI's schema has no null for it.
    ...(stage === 'done' && usage !== null && { usage: usageOf(usage) }),
    metadata: {},
  };
}

/** The events OpenAI streams for that response: created, in progress, the deltas, completed. */
export function upstreamEvents(
  request: RecordedRequest,
  pieces: string[],
  options: UpstreamResponseOptions = {},
): Record<string, unknown>[] {
  const text = pieces.join('');
  const done = upstreamResponse(request, { ...options, text });
  const item = (done.output as Record<string, unknown>[])[0] as Record<string, unknown>;
  const part = { type: 'output_text', text: '', annotations: [], logprobs: [] };
  const at = { item_id: item.id, output_index: 0, content_index: 0 };
  const events: Record<string, unknown>[] = [
    { type: 'response.created', response: upstreamResponse(request, options, 'created') },
    { type: 'response.in_progress', response: upstreamResponse(request, options, 'created') },
    {
      type: 'response.output_item.added',
      output_index: 0,
      item: { ...item, status: 'in_progress', content: [] },
    },
    { type: 'response.content_part.added', ...at, part },
    ...pieces.map((delta) => ({ type: 'response.output_text.delta', ...at, delta, logprobs: [] })),
    { type: 'response.output_text.done', ...at, text, logprobs: [] },
    { type: 'response.content_part.done', ...at, part: { ...part, text } },
    { type: 'response.output_item.done', output_index: 0, item },
    { type: `response.${String(done.status)}`, response: done },
  ];
  return events.map((event, index) => ({ ...event, sequence_number: index }));
}

/** Writes typed events as OpenAI does: `event:` and `data:` lines, no `[DONE]`. */
export async function sseTyped(
  res: ServerResponse,
  events: Record<string, unknown>[],
  options: { cutAfter?: number; gapMs?: number } = {},
): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [index, event] of events.entries()) {
    if (options.cutAfter === index) {
      res.destroy();
      return;
    }
    if (options.gapMs) await sleep(options.gapMs);
    res.write(`event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`);
  }
  res.end();
}

/**
 * A script answering `/v1/responses` in OpenAI's format, streamed when asked; a chat
 * request is refused, so a test sees which API the gateway used.
 */
export function respondsNatively(pieces: string[], options: UpstreamResponseOptions = {}): Script {
  return async (req, res) => {
    if (!req.url.endsWith('/responses'))
      return json(res, 404, {
        error: { message: `not here: ${req.url}`, type: 'invalid_request_error' },
      });
    if (req.body?.stream === true) return sseTyped(res, upstreamEvents(req, pieces, options));
    return json(res, 200, upstreamResponse(req, { ...options, text: pieces.join('') }));
  };
}
