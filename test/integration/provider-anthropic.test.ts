import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicProvider } from '../../src/providers/anthropic/provider.js';
import type {
  AnthropicProviderConfig,
  CallContext,
  JsonObject,
} from '../../src/providers/types.js';
import { createRelay } from '../../src/services/inference/stream-relay.js';
import {
  anthropicBaseUrl,
  anthropicError,
  anthropicMessage,
  anthropicStream,
} from '../helpers/anthropic-wire.js';
import { FakeUpstream, json, stall } from '../helpers/fake-upstream.js';
import {
  callContext,
  chatRequest,
  collectChunks,
  upstreamFailure,
} from '../helpers/provider-calls.js';

const upstream = new FakeUpstream();
let provider: AnthropicProvider;

function config(overrides: Partial<AnthropicProviderConfig> = {}): AnthropicProviderConfig {
  return {
    id: 'anthropic',
    type: 'anthropic',
    baseUrl: anthropicBaseUrl(upstream),
    apiKey: 'sk-ant-platform',
    tenantKeys: true,
    headers: { 'anthropic-beta': 'test-beta' },
    maxConnections: 4,
    timeouts: { connectMs: 2000, firstByteMs: 2000, idleMs: 2000 },
    version: '2023-06-01',
    defaultMaxTokens: 4096,
    ...overrides,
  };
}

beforeAll(async () => {
  await upstream.start();
  provider = new AnthropicProvider(config());
});
afterAll(async () => {
  await provider.close();
  await upstream.stop();
});

const ctx = (extra: Partial<CallContext> = {}) => callContext('req_test', extra);

const chat = (extra: JsonObject = {}) => chatRequest('claude-sonnet', extra);

const contentOf = (chunks: JsonObject[]) =>
  chunks
    .flatMap((chunk) => chunk.choices as { delta: { content?: string } }[])
    .map((choice) => choice.delta.content ?? '')
    .join('');

describe('Anthropic provider: what is sent upstream', () => {
  it('POSTs a Messages request to /v1/messages with the key, version and configured headers', async () => {
    upstream.reset();
    upstream.next(anthropicMessage({ text: 'Hello!' }));
    await provider.chatCompletion(chat({ temperature: 0.2, max_tokens: 64 }), ctx());
    const [sent] = upstream.requests;
    expect(sent?.method).toBe('POST');
    expect(sent?.url).toBe('/v1/messages');
    expect(sent?.headers['x-api-key']).toBe('sk-ant-platform');
    expect(sent?.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent?.headers['anthropic-beta']).toBe('test-beta');
    expect(sent?.headers['content-type']).toBe('application/json');
    expect(sent?.headers.authorization).toBeUndefined();
    expect(sent?.body).toEqual({
      model: 'claude-sonnet',
      max_tokens: 64,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 0.2,
    });
  });

  it('uses the caller’s own key instead of the platform’s', async () => {
    upstream.reset();
    upstream.next(anthropicMessage({ text: 'x' }), anthropicStream({ text: 'x' }));
    await provider.chatCompletion(chat(), ctx({ apiKey: 'sk-ant-tenant' }));
    await collectChunks(
      await provider.chatCompletionStream(chat(), ctx({ apiKey: 'sk-ant-tenant' })),
    );
    expect(upstream.requests.map((r) => r.headers['x-api-key'])).toEqual([
      'sk-ant-tenant',
      'sk-ant-tenant',
    ]);
  });

  it('sends the default max_tokens, and stream: true only for streams', async () => {
    upstream.reset();
    upstream.next(anthropicMessage({ text: 'x' }), anthropicStream({ text: 'x' }));
    await provider.chatCompletion(chat({ stream: true }), ctx());
    await collectChunks(
      await provider.chatCompletionStream(
        chat({ stream: true, stream_options: { include_usage: true } }),
        ctx(),
      ),
    );
    const [plain, streamed] = upstream.requests;
    expect(plain?.body).toMatchObject({ max_tokens: 4096 });
    expect(plain?.body).not.toHaveProperty('stream');
    expect(streamed?.body).toMatchObject({ max_tokens: 4096, stream: true });
    expect(streamed?.body).not.toHaveProperty('stream_options');
  });

  it('refuses what it cannot translate with an OpenAI-shaped 400 and sends nothing', async () => {
    upstream.reset();
    const refused = await upstreamFailure(provider.chatCompletion(chat({ n: 3 }), ctx()));
    expect(refused.failure).toEqual({
      kind: 'http',
      status: 400,
      body: {
        error: {
          message: expect.stringContaining('n to 1'),
          type: 'invalid_request_error',
          param: 'n',
          code: null,
        },
      },
      retryAfter: null,
    });
    const streamRefused = await upstreamFailure(
      provider.chatCompletionStream(chat({ response_format: { type: 'json_object' } }), ctx()),
    );
    expect(streamRefused.failure).toMatchObject({ status: 400 });
    for (const call of [
      provider.completion(),
      provider.completionStream(),
      provider.embeddings(),
    ] as Promise<unknown>[]) {
      expect((await upstreamFailure(call)).failure).toMatchObject({ kind: 'http', status: 400 });
    }
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('Anthropic provider: answers', () => {
  it('answers a chat completion in OpenAI’s shape, with cache tokens in the usage', async () => {
    upstream.reset();
    upstream.next(
      anthropicMessage({
        id: 'msg_abc',
        text: 'Hello!',
        inputTokens: 30,
        cacheReadTokens: 1000,
        cacheCreationTokens: 200,
        outputTokens: 5,
      }),
    );
    const before = Math.floor(Date.now() / 1000);
    const completion = await provider.chatCompletion(chat(), ctx());
    expect(completion).toMatchObject({
      id: 'msg_abc',
      object: 'chat.completion',
      model: 'claude-sonnet',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello!' },
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: 1230,
        completion_tokens: 5,
        total_tokens: 1235,
        prompt_tokens_details: { cached_tokens: 1000 },
      },
    });
    expect(completion.created).toBeGreaterThanOrEqual(before);
  });

  it('answers tool calls', async () => {
    upstream.reset();
    upstream.next(
      anthropicMessage({ toolUses: [{ id: 'toolu_1', name: 'weather', input: { city: 'Oslo' } }] }),
    );
    const completion = await provider.chatCompletion(
      chat({ tools: [{ type: 'function', function: { name: 'weather', parameters: {} } }] }),
      ctx(),
    );
    expect(completion.choices).toEqual([
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: [
            {
              id: 'toolu_1',
              type: 'function',
              function: { name: 'weather', arguments: '{"city":"Oslo"}' },
            },
          ],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ]);
    expect(upstream.requests[0]?.body?.tools).toEqual([{ name: 'weather', input_schema: {} }]);
  });

  it('lists the models in OpenAI’s shape', async () => {
    upstream.reset();
    upstream.next((_req, res) =>
      json(res, 200, {
        data: [
          { type: 'model', id: 'claude-a', display_name: 'A', created_at: '2025-01-01T00:00:00Z' },
        ],
        has_more: false,
        first_id: 'claude-a',
        last_id: 'claude-a',
      }),
    );
    const list = await provider.listModels(ctx());
    expect(upstream.requests[0]?.method).toBe('GET');
    expect(upstream.requests[0]?.url).toMatch(/^\/v1\/models/);
    expect(list).toEqual({
      object: 'list',
      data: [{ id: 'claude-a', object: 'model', created: 1_735_689_600, owned_by: 'anthropic' }],
    });
  });
});

describe('Anthropic provider: streams', () => {
  it('streams text as chat.completion.chunks, with no usage when not asked', async () => {
    upstream.reset();
    upstream.next(anthropicStream({ id: 'msg_s', text: 'The quick brown fox', gapMs: 2 }));
    const chunks = await collectChunks(
      await provider.chatCompletionStream(chat({ stream: true }), ctx()),
    );
    expect(contentOf(chunks)).toBe('The quick brown fox');
    expect(new Set(chunks.map((c) => `${c.id}|${c.created}|${c.model}`)).size).toBe(1);
    expect(chunks[0]).toMatchObject({ id: 'msg_s', model: 'claude-sonnet' });
    expect(chunks.every((chunk) => !('usage' in chunk))).toBe(true);
    expect(chunks.at(-1)?.choices).toEqual([
      { index: 0, delta: {}, logprobs: null, finish_reason: 'stop' },
    ]);
  });

  it('ends with a usage chunk when include_usage is set', async () => {
    upstream.reset();
    upstream.next(
      anthropicStream({ text: 'Hi', inputTokens: 11, cacheReadTokens: 7, outputTokens: 2 }),
    );
    const chunks = await collectChunks(
      await provider.chatCompletionStream(
        chat({ stream: true, stream_options: { include_usage: true } }),
        ctx(),
      ),
    );
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: {
        prompt_tokens: 18,
        completion_tokens: 2,
        total_tokens: 20,
        prompt_tokens_details: { cached_tokens: 7 },
      },
    });
  });

  it('streams tool calls with their ids, names and arguments', async () => {
    upstream.reset();
    upstream.next(
      anthropicStream({
        text: 'Let me look.',
        toolUses: [
          { id: 'toolu_1', name: 'weather', input: { city: 'Oslo', unit: 'C' } },
          { id: 'toolu_2', name: 'clock', input: {} },
        ],
      }),
    );
    const chunks = await collectChunks(
      await provider.chatCompletionStream(chat({ stream: true }), ctx()),
    );
    const calls = chunks.flatMap((chunk) =>
      (chunk.choices as { delta: { tool_calls?: JsonObject[] } }[]).flatMap(
        (choice) => choice.delta.tool_calls ?? [],
      ),
    );
    const assembled = new Map<number, { id?: unknown; name?: unknown; args: string }>();
    for (const call of calls) {
      const entry = assembled.get(call.index as number) ?? { args: '' };
      const fn = call.function as { name?: string; arguments?: string };
      if (call.id !== undefined) Object.assign(entry, { id: call.id, name: fn.name });
      entry.args += fn.arguments ?? '';
      assembled.set(call.index as number, entry);
    }
    expect([...assembled.entries()]).toEqual([
      [0, { id: 'toolu_1', name: 'weather', args: '{"city":"Oslo","unit":"C"}' }],
      [1, { id: 'toolu_2', name: 'clock', args: '{}' }],
    ]);
    expect(contentOf(chunks)).toBe('Let me look.');
    expect(chunks.at(-1)?.choices).toMatchObject([{ finish_reason: 'tool_calls' }]);
  });

  it('throws when the stream is cut before message_stop, and the failure is a protocol one', async () => {
    upstream.reset();
    upstream.next(anthropicStream({ text: 'never finished', cutAfterEvents: 5 }));
    const stream = await provider.chatCompletionStream(chat({ stream: true }), ctx());
    const error = await upstreamFailure(collectChunks(stream));
    expect(error.failure.kind).toBe('protocol');
  });

  it('throws when the body ends cleanly but without message_stop', async () => {
    upstream.reset();
    upstream.next(anthropicStream({ text: 'looks complete', endAfterEvents: 8 }));
    const stream = await provider.chatCompletionStream(chat({ stream: true }), ctx());
    const seen: string[] = [];
    const error = await upstreamFailure(
      (async () => {
        for await (const chunk of stream) seen.push(chunk);
      })(),
    );
    expect(seen.length).toBeGreaterThan(0);
    expect(error.failure).toEqual({ kind: 'protocol', detail: expect.stringContaining('end') });
  });

  it('fails with the error event’s status when Anthropic sends one mid-stream', async () => {
    upstream.reset();
    upstream.next(
      anthropicStream({
        text: 'partial answer',
        errorAfterEvents: { events: 4, type: 'overloaded_error', message: 'Overloaded' },
      }),
    );
    const stream = await provider.chatCompletionStream(chat({ stream: true }), ctx());
    const error = await upstreamFailure(collectChunks(stream));
    expect(error.failure).toMatchObject({ kind: 'http', status: 529 });
  });

  it('through the gateway’s relay: a client that did not ask for usage never sees it', async () => {
    upstream.reset();
    upstream.next(anthropicStream({ text: 'Hello', inputTokens: 9, outputTokens: 3 }));
    const signal = new AbortController().signal;
    const relay = createRelay({
      upstream: await provider.chatCompletionStream(
        chat({ stream: true, stream_options: { include_usage: true } }),
        ctx({ signal }),
      ),
      clientWantsUsage: false,
      estimatePrompt: async () => 0,
      signal,
    });
    const frames: string[] = [];
    for await (const frame of relay.events) frames.push(frame);
    expect(frames.at(-1)).toBe('data: [DONE]\n\n');
    expect(frames.some((frame) => frame.includes('usage'))).toBe(false);
    const outcome = await relay.outcome;
    expect(outcome.error).toBeNull();
    expect(outcome.usage).toMatchObject({ promptTokens: 9, completionTokens: 3, estimated: false });
  });
});

describe('Anthropic provider: errors', () => {
  it('keeps a 429’s status and retry-after, with the body in OpenAI’s shape', async () => {
    upstream.reset();
    upstream.next(
      anthropicError(429, 'rate_limit_error', 'Number of requests has exceeded your rate limit', {
        'retry-after': '17',
      }),
    );
    const error = await upstreamFailure(provider.chatCompletion(chat(), ctx()));
    expect(error.failure).toEqual({
      kind: 'http',
      status: 429,
      retryAfter: '17',
      body: {
        error: {
          message: 'Number of requests has exceeded your rate limit',
          type: 'rate_limit_error',
          param: null,
          code: 'rate_limit_exceeded',
        },
      },
    });
  });

  it('keeps 529 overloaded as 529, before a stream starts too', async () => {
    upstream.reset();
    upstream.next(anthropicError(529, 'overloaded_error', 'Overloaded'));
    const error = await upstreamFailure(
      provider.chatCompletionStream(chat({ stream: true }), ctx()),
    );
    expect(error.failure).toMatchObject({
      kind: 'http',
      status: 529,
      body: { error: { type: 'overloaded_error', message: 'Overloaded' } },
    });
  });

  it('marks a too-long prompt with context_length_exceeded', async () => {
    upstream.reset();
    upstream.next(
      anthropicError(
        400,
        'invalid_request_error',
        'prompt is too long: 210000 tokens > 200000 maximum',
      ),
    );
    const error = await upstreamFailure(provider.chatCompletion(chat(), ctx()));
    expect(error.failure).toMatchObject({
      kind: 'http',
      status: 400,
      body: { error: { type: 'invalid_request_error', code: 'context_length_exceeded' } },
    });
  });

  it('times out waiting for the first byte as a first_byte timeout', async () => {
    const slow = new AnthropicProvider(
      config({ timeouts: { connectMs: 2000, firstByteMs: 150, idleMs: 2000 } }),
    );
    upstream.reset();
    upstream.next(stall);
    try {
      const error = await upstreamFailure(slow.chatCompletion(chat(), ctx()));
      expect(error.failure).toEqual({ kind: 'timeout', phase: 'first_byte' });
    } finally {
      await slow.close();
    }
  });
});
