import { describe, expect, it } from 'vitest';
import {
  toOpenAIErrorBody,
  UnsupportedRequestError,
} from '../../src/providers/anthropic/errors.js';
import { toAnthropicRequest } from '../../src/providers/anthropic/request.js';
import { toChatCompletion, toModelList } from '../../src/providers/anthropic/response.js';
import { isMessageStop, toChatCompletionChunks } from '../../src/providers/anthropic/stream.js';
import { UpstreamError } from '../../src/providers/errors.js';
import { readSseData, readSseEvents, TruncatedStreamError } from '../../src/providers/sse.js';
import type { JsonObject } from '../../src/providers/types.js';
import {
  type AnthropicEvent,
  type AnthropicReplyOptions,
  anthropicMessageBody,
  anthropicStreamEvents,
} from '../helpers/anthropic-wire.js';

const defaults = { maxTokens: 1024 };
const translate = (body: JsonObject) =>
  toAnthropicRequest({ model: 'claude-x', ...body }, defaults);
const user = (content: unknown) => ({ role: 'user', content });

describe('OpenAI chat request -> Anthropic Messages request', () => {
  it('moves system and developer messages to `system` and keeps the rest in order', () => {
    const request = translate({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        user('Hi'),
        { role: 'assistant', content: 'Salut' },
        user('Again'),
      ],
    });
    expect(request).toEqual({
      model: 'claude-x',
      max_tokens: 1024,
      system: 'Be brief.\n\nAnswer in French.',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Salut' },
        { role: 'user', content: 'Again' },
      ],
    });
  });

  it('merges consecutive messages of one role into one turn of blocks', () => {
    const request = translate({ messages: [user('one'), user([{ type: 'text', text: 'two' }])] });
    expect(request.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'one' },
          { type: 'text', text: 'two' },
        ],
      },
    ]);
  });

  it('turns image parts into base64 or url image sources and PDFs into documents', () => {
    const request = translate({
      messages: [
        user([
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'low' } },
          { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=' } },
        ]),
      ],
    });
    expect(request.messages[0]?.content).toEqual([
      { type: 'text', text: 'What is this?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
      {
        type: 'document',
        source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' },
      },
    ]);
  });

  it('turns tool calls into tool_use blocks and merges consecutive tool results', () => {
    const request = translate({
      messages: [
        user('Weather in Paris and Rome?'),
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'weather', arguments: '{"city":"Paris"}' },
            },
            {
              id: 'call_2',
              type: 'function',
              function: { name: 'weather', arguments: '{"city":"Rome"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '18C' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '24C' }] },
        user('Thanks. Which is warmer?'),
      ],
    });
    expect(request.messages).toEqual([
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'weather', input: { city: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: '18C' },
          { type: 'tool_result', tool_use_id: 'call_2', content: [{ type: 'text', text: '24C' }] },
          { type: 'text', text: 'Thanks. Which is warmer?' },
        ],
      },
    ]);
  });

  it('keeps the text an assistant wrote beside its tool calls, before them', () => {
    const request = translate({
      messages: [
        user('x'),
        {
          role: 'assistant',
          content: 'Let me check.',
          tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '' } }],
        },
      ],
    });
    expect(request.messages[1]?.content).toEqual([
      { type: 'text', text: 'Let me check.' },
      { type: 'tool_use', id: 'c', name: 'f', input: {} },
    ]);
  });

  it('maps sampling, stop, user and stream fields, and drops the untranslatable harmless ones', () => {
    const request = translate({
      messages: [user('x')],
      max_tokens: 50,
      max_completion_tokens: 70,
      temperature: 1.6,
      top_p: 0.9,
      stop: 'END',
      user: 'user-42',
      stream: true,
      stream_options: { include_usage: true },
      seed: 7,
      frequency_penalty: 0.5,
      presence_penalty: 0.5,
      logit_bias: { 1: 2 },
      n: 1,
      logprobs: false,
      response_format: { type: 'text' },
    });
    expect(request).toEqual({
      model: 'claude-x',
      max_tokens: 70,
      messages: [{ role: 'user', content: 'x' }],
      temperature: 1,
      top_p: 0.9,
      stop_sequences: ['END'],
      metadata: { user_id: 'user-42' },
      stream: true,
    });
    expect(translate({ messages: [user('x')], max_tokens: 50, stop: ['a', 'b'] })).toMatchObject({
      max_tokens: 50,
      stop_sequences: ['a', 'b'],
    });
    expect(translate({ messages: [user('x')], temperature: 0.3 }).temperature).toBe(0.3);
  });

  it('maps function tools and every tool_choice', () => {
    const parameters = { type: 'object', properties: { city: { type: 'string' } } };
    const tools = [
      { type: 'function', function: { name: 'weather', description: 'Weather', parameters } },
      { type: 'function', function: { name: 'time' } },
    ];
    const request = translate({ messages: [user('x')], tools });
    expect(request.tools).toEqual([
      { name: 'weather', description: 'Weather', input_schema: parameters },
      { name: 'time', input_schema: { type: 'object', properties: {} } },
    ]);
    expect(request.tool_choice).toBeUndefined();
    const choice = (tool_choice: unknown, parallel_tool_calls?: boolean) =>
      translate({ messages: [user('x')], tools, tool_choice, parallel_tool_calls }).tool_choice;
    expect(choice('auto')).toEqual({ type: 'auto' });
    expect(choice('none')).toEqual({ type: 'none' });
    expect(choice('required')).toEqual({ type: 'any' });
    expect(choice({ type: 'function', function: { name: 'time' } })).toEqual({
      type: 'tool',
      name: 'time',
    });
    expect(choice('required', false)).toEqual({ type: 'any', disable_parallel_tool_use: true });
    expect(choice(undefined, false)).toEqual({ type: 'auto', disable_parallel_tool_use: true });
  });

  it('uses the default max_tokens when the client set none', () => {
    expect(
      toAnthropicRequest({ model: 'm', messages: [user('x')] }, { maxTokens: 333 }),
    ).toMatchObject({
      max_tokens: 333,
    });
  });

  it.each([
    ['n > 1', { n: 2 }, 'n'],
    ['logprobs', { logprobs: true }, 'logprobs'],
    ['top_logprobs', { top_logprobs: 3 }, 'logprobs'],
    ['json_object', { response_format: { type: 'json_object' } }, 'response_format'],
    [
      'json_schema',
      { response_format: { type: 'json_schema', json_schema: {} } },
      'response_format',
    ],
    ['audio output', { modalities: ['text', 'audio'] }, 'modalities'],
    ['a non-function tool', { tools: [{ type: 'custom', custom: { name: 'x' } }] }, 'tools[0]'],
    ['legacy functions', { functions: [{ name: 'f' }] }, 'functions'],
  ])('refuses %s, naming the parameter', (_name, extra, param) => {
    const attempt = () => translate({ messages: [user('x')], ...extra });
    expect(attempt).toThrow(UnsupportedRequestError);
    expect(attempt).toThrow(expect.objectContaining({ param }));
  });

  it.each([
    [
      'an audio part',
      [user([{ type: 'input_audio', input_audio: { data: 'x', format: 'wav' } }])],
      'messages[0].content[0]',
    ],
    [
      'a file by id',
      [user([{ type: 'file', file: { file_id: 'file-1' } }])],
      'messages[0].content[0]',
    ],
    [
      'an ftp image',
      [user([{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }])],
      'messages[0].content[0]',
    ],
    ['a function message', [{ role: 'function', name: 'f', content: 'x' }], 'messages[0].role'],
    [
      'tool arguments that are not JSON',
      [
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{oops' } }],
        },
      ],
      'messages[0].tool_calls[0].function.arguments',
    ],
  ])('refuses %s in messages', (_name, messages, param) => {
    expect(() => translate({ messages })).toThrow(expect.objectContaining({ param }));
  });
});

describe('Anthropic Messages response -> chat.completion', () => {
  it('translates text, finish reason and usage with cache tokens', () => {
    const message = anthropicMessageBody({
      id: 'msg_1',
      model: 'claude-x',
      text: 'Hello',
      inputTokens: 10,
      cacheReadTokens: 100,
      cacheCreationTokens: 5,
      outputTokens: 3,
      stopReason: 'max_tokens',
    });
    expect(toChatCompletion(message, 1_700_000_000)).toEqual({
      id: 'msg_1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'claude-x',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello', refusal: null },
          logprobs: null,
          finish_reason: 'length',
        },
      ],
      usage: {
        prompt_tokens: 115,
        completion_tokens: 3,
        total_tokens: 118,
        prompt_tokens_details: { cached_tokens: 100 },
      },
    });
  });

  it('gives tool calls with JSON arguments and null content when there is no text', () => {
    const completion = toChatCompletion(
      anthropicMessageBody({ toolUses: [{ id: 'toolu_1', name: 'f', input: { a: [1, 2] } }] }),
    );
    const [choice] = completion.choices as JsonObject[];
    expect(choice).toMatchObject({
      finish_reason: 'tool_calls',
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '{"a":[1,2]}' } },
        ],
      },
    });
    expect(typeof completion.created).toBe('number');
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
  ] as const)('maps stop_reason %s to finish_reason %s', (stopReason, finish) => {
    const completion = toChatCompletion(anthropicMessageBody({ text: 'x', stopReason }));
    expect((completion.choices as JsonObject[])[0]?.finish_reason).toBe(finish);
  });

  it('maps the model list', () => {
    const list = toModelList({
      data: [
        { type: 'model', id: 'claude-x', display_name: 'X', created_at: '2025-02-19T00:00:00Z' },
      ],
      has_more: false,
    });
    expect(list).toEqual({
      object: 'list',
      data: [{ id: 'claude-x', object: 'model', created: 1_739_923_200, owned_by: 'anthropic' }],
    });
  });
});

describe('Anthropic error bodies -> OpenAI error bodies', () => {
  it('gives a too-long prompt the context_length_exceeded code', () => {
    const body = {
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'prompt is too long: 210000 tokens > 200000 maximum',
      },
    };
    expect(toOpenAIErrorBody(body)).toEqual({
      error: {
        message: 'prompt is too long: 210000 tokens > 200000 maximum',
        type: 'invalid_request_error',
        param: null,
        code: 'context_length_exceeded',
      },
    });
  });

  it('keeps other types, with a rate-limit code for rate limits, and leaves unknown bodies alone', () => {
    const body = (type: string) => ({ type: 'error', error: { type, message: 'm' } });
    expect(toOpenAIErrorBody(body('overloaded_error'))).toEqual({
      error: { message: 'm', type: 'overloaded_error', param: null, code: null },
    });
    expect(toOpenAIErrorBody(body('rate_limit_error'))).toMatchObject({
      error: { code: 'rate_limit_exceeded' },
    });
    expect(toOpenAIErrorBody(null)).toBeNull();
    expect(toOpenAIErrorBody({ detail: 'x' })).toEqual({ detail: 'x' });
  });
});

const encoder = new TextEncoder();

/** Anthropic events as the bytes of an HTTP body, split mid-frame to exercise the parser. */
async function* wire(events: AnthropicEvent[]): AsyncGenerator<Uint8Array> {
  const text = events.map((e) => `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`).join('');
  for (let at = 0; at < text.length; at += 37) yield encoder.encode(text.slice(at, at + 37));
}

async function chunksOf(events: AnthropicEvent[], includeUsage: boolean): Promise<JsonObject[]> {
  const chunks: JsonObject[] = [];
  const stream = toChatCompletionChunks(readSseEvents(wire(events), isMessageStop), {
    providerId: 'anthropic',
    includeUsage,
    created: 1_700_000_000,
  });
  for await (const chunk of stream) chunks.push(JSON.parse(chunk) as JsonObject);
  return chunks;
}

const deltas = (chunks: JsonObject[]) =>
  chunks.flatMap((chunk) => (chunk.choices as { delta: JsonObject }[]).map((c) => c.delta));

describe('Anthropic stream -> chat.completion.chunk', () => {
  const reply: AnthropicReplyOptions = {
    id: 'msg_s',
    model: 'claude-x',
    text: 'Hello there, world',
    inputTokens: 20,
    cacheReadTokens: 4,
    outputTokens: 9,
  };

  it('starts with the role, streams the text, ends with the finish reason', async () => {
    const chunks = await chunksOf(anthropicStreamEvents(reply), false);
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({
        id: 'msg_s',
        object: 'chat.completion.chunk',
        created: 1_700_000_000,
        model: 'claude-x',
      });
      expect(chunk).not.toHaveProperty('usage');
    }
    expect(deltas(chunks)[0]).toEqual({ role: 'assistant', content: '' });
    const text = deltas(chunks)
      .map((delta) => delta.content ?? '')
      .join('');
    expect(text).toBe('Hello there, world');
    expect(deltas(chunks).length).toBeGreaterThan(3);
    const last = chunks.at(-1) as { choices: JsonObject[] };
    expect(last.choices[0]).toEqual({ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' });
  });

  it('adds usage: null to every chunk and a final usage chunk when asked', async () => {
    const chunks = await chunksOf(anthropicStreamEvents(reply), true);
    const last = chunks.at(-1) as JsonObject;
    expect(last).toEqual({
      id: 'msg_s',
      object: 'chat.completion.chunk',
      created: 1_700_000_000,
      model: 'claude-x',
      choices: [],
      usage: {
        prompt_tokens: 24,
        completion_tokens: 9,
        total_tokens: 33,
        prompt_tokens_details: { cached_tokens: 4 },
      },
    });
    for (const chunk of chunks.slice(0, -1)) expect(chunk.usage).toBeNull();
  });

  it('numbers tool calls apart from content blocks and streams their arguments', async () => {
    const events = anthropicStreamEvents({
      text: 'Checking.',
      toolUses: [
        { id: 'toolu_a', name: 'weather', input: { city: 'Paris', days: 3 } },
        { id: 'toolu_b', name: 'time', input: { zone: 'CET' } },
      ],
    });
    const chunks = await chunksOf(events, false);
    const calls = deltas(chunks).flatMap((delta) => (delta.tool_calls ?? []) as JsonObject[]);
    expect(calls[0]).toEqual({
      index: 0,
      id: 'toolu_a',
      type: 'function',
      function: { name: 'weather', arguments: '' },
    });
    const args = (index: number) =>
      calls
        .filter((call) => call.index === index)
        .map((call) => (call.function as { arguments: string }).arguments)
        .join('');
    expect(JSON.parse(args(0))).toEqual({ city: 'Paris', days: 3 });
    expect(JSON.parse(args(1))).toEqual({ zone: 'CET' });
    expect(calls.filter((call) => call.id !== undefined).map((call) => call.index)).toEqual([0, 1]);
    // Argument pieces carry only index and arguments, as OpenAI's do.
    expect(calls.filter((call) => call.id === undefined).length).toBeGreaterThan(2);
    for (const call of calls.filter((c) => c.id === undefined)) {
      expect(Object.keys(call).sort()).toEqual(['function', 'index']);
    }
    const last = chunks.at(-1) as { choices: JsonObject[] };
    expect(last.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('throws when the stream is cut before message_stop', async () => {
    const events = anthropicStreamEvents(reply).slice(0, -1);
    await expect(chunksOf(events, true)).rejects.toBeInstanceOf(TruncatedStreamError);
  });

  it('ends with an UpstreamError carrying the status of an error event', async () => {
    const events = anthropicStreamEvents(reply).slice(0, 4);
    events.push({
      event: 'error',
      data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
    });
    const failure = await chunksOf(events, false).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UpstreamError);
    expect((failure as UpstreamError).failure).toEqual({
      kind: 'http',
      status: 529,
      body: { error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: null } },
      retryAfter: null,
    });
  });
});

describe('SSE reading', () => {
  async function* text(body: string): AsyncGenerator<Uint8Array> {
    yield encoder.encode(body);
  }

  it('stops at [DONE] for OpenAI streams and throws when it never comes', async () => {
    const read = async (body: string) => {
      const out: string[] = [];
      for await (const data of readSseData(text(body))) out.push(data);
      return out;
    };
    await expect(read('data: {"a":1}\n\ndata: [DONE]\n\ndata: {"late":1}\n\n')).resolves.toEqual([
      '{"a":1}',
    ]);
    await expect(read('data: {"a":1}\n\n')).rejects.toBeInstanceOf(TruncatedStreamError);
  });
});
