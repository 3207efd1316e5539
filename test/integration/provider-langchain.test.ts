import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { LangChainProvider } from '../../src/providers/langchain/provider.js';
import type {
  CallContext,
  JsonObject,
  LangChainProviderConfig,
} from '../../src/providers/types.js';
import { createRelay } from '../../src/services/inference/stream-relay.js';
import {
  anthropicBaseUrl,
  anthropicError,
  anthropicMessage,
  anthropicStream,
  anthropicStreamEvents,
  writeAnthropicEvents,
} from '../helpers/anthropic-wire.js';
import { FakeUpstream, stall } from '../helpers/fake-upstream.js';
import { expectOpenAISchema } from '../helpers/openai-schema.js';
import {
  callContext,
  chatRequest,
  collectChunks,
  upstreamFailure,
} from '../helpers/provider-calls.js';

/** The bridge with the real ChatAnthropic, talking Anthropic's wire format to a fake. */
const upstream = new FakeUpstream();
let provider: LangChainProvider;

function config(overrides: Partial<LangChainProviderConfig> = {}): LangChainProviderConfig {
  return {
    id: 'claude-lc',
    type: 'langchain',
    module: '@langchain/anthropic',
    chatClass: 'ChatAnthropic',
    embeddingsClass: null,
    options: { anthropicApiUrl: anthropicBaseUrl(upstream) },
    apiKey: 'sk-ant-platform',
    apiKeyOption: 'apiKey',
    tenantKeys: true,
    ...overrides,
  };
}

beforeAll(async () => {
  await upstream.start();
  provider = new LangChainProvider(config());
});
afterAll(async () => {
  await provider.close();
  await upstream.stop();
});
beforeEach(() => upstream.reset());

const ctx = (extra: Partial<CallContext> = {}) => callContext('req_lc', extra);

const chat = (extra: JsonObject = {}) => chatRequest('claude-sonnet-4-5', extra);

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

type Choice = { delta: JsonObject; finish_reason: string | null };
const choiceOf = (chunk: JsonObject) => (chunk.choices as Choice[])[0];

describe('LangChain bridge to ChatAnthropic', () => {
  it('answers a chat completion, and sends what the request asked for', async () => {
    upstream.next(anthropicMessage({ text: 'Hello!', inputTokens: 9, cacheReadTokens: 3 }));
    const result = await provider.chatCompletion(
      chat({ max_tokens: 50, temperature: 0.3, stop: ['END'] }),
      ctx(),
    );
    expect(result).toMatchObject({
      id: 'chatcmpl-req_lc',
      object: 'chat.completion',
      model: 'claude-sonnet-4-5',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' },
      ],
      // Anthropic counts cache reads apart; OpenAI's prompt_tokens include them.
      usage: {
        prompt_tokens: 12,
        completion_tokens: 7,
        total_tokens: 19,
        prompt_tokens_details: { cached_tokens: 3 },
      },
    });
    expectOpenAISchema('CreateChatCompletionResponse', result);
    expect(upstream.requests).toHaveLength(1);
    const [sent] = upstream.requests;
    expect(sent?.url).toBe('/v1/messages');
    expect(sent?.headers['x-api-key']).toBe('sk-ant-platform');
    expect(sent?.body).toMatchObject({
      model: 'claude-sonnet-4-5',
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 50,
      temperature: 0.3,
      stop_sequences: ['END'],
    });
    expect(sent?.body?.stream).toBeFalsy();
  });

  it("uses the caller's own key when one is given", async () => {
    upstream.next(anthropicMessage({ text: 'a' }), anthropicMessage({ text: 'b' }));
    await provider.chatCompletion(chat(), ctx({ apiKey: 'sk-ant-tenant' }));
    await provider.chatCompletion(chat(), ctx());
    expect(upstream.requests.map((req) => req.headers['x-api-key'])).toEqual([
      'sk-ant-tenant',
      'sk-ant-platform',
    ]);
  });

  it('streams text chunks, a finish chunk and the usage chunk', async () => {
    upstream.next(anthropicStream({ text: 'Hello there, friend', outputTokens: 5 }));
    const stream = await provider.chatCompletionStream(
      chat({ stream: true, stream_options: { include_usage: true } }),
      ctx(),
    );
    const chunks = await collectChunks(stream);
    for (const chunk of chunks) expectOpenAISchema('CreateChatCompletionStreamResponse', chunk);
    expect(new Set(chunks.map((chunk) => chunk.id))).toEqual(new Set(['chatcmpl-req_lc']));
    expect(new Set(chunks.map((chunk) => chunk.created)).size).toBe(1);
    expect(choiceOf(chunks[0] as JsonObject)?.delta).toEqual({ role: 'assistant', content: '' });
    const text = chunks.map((chunk) => choiceOf(chunk)?.delta.content ?? '').join('');
    expect(text).toBe('Hello there, friend');
    const finishes = chunks.map((chunk) => choiceOf(chunk)?.finish_reason).filter(Boolean);
    expect(finishes).toEqual(['stop']);
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
    });
    expect(upstream.requests[0]?.body).toMatchObject({ stream: true });
  });

  it('hides the usage chunk, through the relay, from a client that did not ask', async () => {
    upstream.next(anthropicStream({ text: 'Hi' }));
    const body = chat({ stream: true, stream_options: { include_usage: true } });
    const signal = new AbortController().signal;
    const relay = createRelay({
      upstream: await provider.chatCompletionStream(body, ctx({ signal })),
      clientWantsUsage: false,
      signal,
      estimatePrompt: async () => 0,
    });
    const frames: string[] = [];
    for await (const frame of relay.events) frames.push(frame);
    expect(frames.at(-1)).toBe('data: [DONE]\n\n');
    expect(frames.some((frame) => frame.includes('"usage"'))).toBe(false);
    expect((await relay.outcome).usage).toMatchObject({ promptTokens: 12, completionTokens: 7 });
  });

  it('binds OpenAI tools and returns tool calls', async () => {
    upstream.next(
      anthropicMessage({
        toolUses: [{ id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } }],
      }),
    );
    const result = await provider.chatCompletion(
      chat({ tools: [weatherTool], tool_choice: 'required', parallel_tool_calls: false }),
      ctx(),
    );
    expectOpenAISchema('CreateChatCompletionResponse', result);
    expect(result.choices).toEqual([
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: [
            {
              id: 'toolu_01',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
          ],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ]);
    expect(upstream.requests[0]?.body).toMatchObject({
      tools: [
        {
          name: 'get_weather',
          description: 'Weather for a city',
          input_schema: weatherTool.function.parameters,
        },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    });
  });

  it('sends tool results back as tool_result blocks', async () => {
    upstream.next(anthropicMessage({ text: 'It is 18C in Paris.' }));
    await provider.chatCompletion(
      chat({
        tools: [weatherTool],
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: 'toolu_01',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              },
            ],
          },
          { role: 'tool', tool_call_id: 'toolu_01', content: '18C' },
        ],
      }),
      ctx(),
    );
    expect(upstream.requests[0]?.body?.messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: '18C' }] },
    ]);
  });

  it('streams tool calls with a stable index, id and name first, then argument pieces', async () => {
    upstream.next(
      anthropicStream({
        text: 'Checking.',
        toolUses: [
          { id: 'toolu_a', name: 'get_weather', input: { city: 'Paris' } },
          { id: 'toolu_b', name: 'get_weather', input: { city: 'Rome' } },
        ],
      }),
    );
    const chunks = await collectChunks(
      await provider.chatCompletionStream(
        chat({ stream: true, tools: [weatherTool], stream_options: { include_usage: true } }),
        ctx(),
      ),
    );
    for (const chunk of chunks) expectOpenAISchema('CreateChatCompletionStreamResponse', chunk);
    const text = chunks.map((chunk) => choiceOf(chunk)?.delta.content ?? '').join('');
    expect(text).toBe('Checking.');
    type ToolDelta = { index: number; id?: string; function: { name?: string; arguments: string } };
    const deltas = chunks.flatMap(
      (chunk) => (choiceOf(chunk)?.delta.tool_calls ?? []) as ToolDelta[],
    );
    const calls = new Map<number, { id?: string; name?: string; args: string }>();
    for (const delta of deltas) {
      const call = calls.get(delta.index);
      if (call === undefined) {
        expect(delta.id).toBeDefined();
        calls.set(delta.index, {
          id: delta.id,
          name: delta.function.name,
          args: delta.function.arguments,
        });
      } else {
        expect(delta.id).toBeUndefined();
        call.args += delta.function.arguments;
      }
    }
    expect([...calls.entries()]).toEqual([
      [0, { id: 'toolu_a', name: 'get_weather', args: '{"city":"Paris"}' }],
      [1, { id: 'toolu_b', name: 'get_weather', args: '{"city":"Rome"}' }],
    ]);
    const finishes = chunks.map((chunk) => choiceOf(chunk)?.finish_reason).filter(Boolean);
    expect(finishes).toEqual(['tool_calls']);
  });

  it('maps max_tokens to length', async () => {
    upstream.next(anthropicMessage({ text: 'Once upon', stopReason: 'max_tokens' }));
    const result = await provider.chatCompletion(chat({ max_tokens: 2 }), ctx());
    expect((result.choices as Choice[])[0]?.finish_reason).toBe('length');
  });

  it('passes a 429 through with retry-after, without retrying', async () => {
    upstream.next(
      anthropicError(429, 'rate_limit_error', 'Number of requests exceeded', {
        'retry-after': '7',
      }),
    );
    const error = await upstreamFailure(provider.chatCompletion(chat(), ctx()));
    expect(error.failure).toEqual({
      kind: 'http',
      status: 429,
      body: {
        error: {
          message: 'Number of requests exceeded',
          type: 'rate_limit_error',
          param: null,
          code: 'rate_limit_exceeded',
        },
      },
      retryAfter: '7',
    });
    expect(upstream.requests).toHaveLength(1);
  });

  it('reports a 500 once: LangChain does not retry behind the router', async () => {
    upstream.always(anthropicError(500, 'api_error', 'Internal server error'));
    try {
      const error = await upstreamFailure(provider.chatCompletion(chat(), ctx()));
      expect(error.failure).toMatchObject({ kind: 'http', status: 500 });
      const streamed = await upstreamFailure(
        provider.chatCompletionStream(chat({ stream: true }), ctx()),
      );
      expect(streamed.failure).toMatchObject({ kind: 'http', status: 500 });
      expect(upstream.requests).toHaveLength(2);
    } finally {
      upstream.always(anthropicError(500, 'api_error', 'no script'));
    }
  });

  it('marks a prompt that is too long as context_length_exceeded', async () => {
    upstream.next(
      anthropicError(
        400,
        'invalid_request_error',
        'prompt is too long: 250000 tokens > 200000 maximum',
      ),
    );
    const error = await upstreamFailure(provider.chatCompletion(chat(), ctx()));
    expect(error.failure).toMatchObject({
      kind: 'http',
      status: 400,
      body: {
        error: {
          message: 'prompt is too long: 250000 tokens > 200000 maximum',
          code: 'context_length_exceeded',
        },
      },
    });
  });

  it('refuses what it cannot translate with a 400, before any upstream call', async () => {
    const error = await upstreamFailure(provider.chatCompletion(chat({ n: 3 }), ctx()));
    expect(error.failure).toMatchObject({
      kind: 'http',
      status: 400,
      body: { error: { param: 'n' } },
    });
    const legacy = await upstreamFailure(provider.completion({ model: 'x', prompt: 'hi' }, ctx()));
    expect(legacy.failure).toMatchObject({ kind: 'http', status: 400 });
    expect(upstream.requests).toHaveLength(0);
  });

  it('stops the upstream call when the client goes away', async () => {
    upstream.next(stall);
    const controller = new AbortController();
    const pending = provider.chatCompletion(chat(), ctx({ signal: controller.signal }));
    await vi.waitFor(() => expect(upstream.requests).toHaveLength(1));
    controller.abort();
    await expect(pending).rejects.toBeDefined();
    await upstream.requests[0]?.aborted;
    expect(upstream.requests[0]?.wasAborted()).toBe(true);
  });

  it('stops a stream midway when the client goes away', async () => {
    upstream.next(anthropicStream({ text: 'a long answer that keeps coming', gapMs: 50 }));
    const controller = new AbortController();
    const stream = await provider.chatCompletionStream(
      chat({ stream: true }),
      ctx({ signal: controller.signal }),
    );
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    controller.abort();
    await expect(drain(iterator)).rejects.toBeDefined();
    await upstream.requests[0]?.aborted;
    expect(upstream.requests[0]?.wasAborted()).toBe(true);
  });

  it('turns a cut stream into an error, not a finished answer', async () => {
    upstream.next(anthropicStream({ text: 'Hello there, friend', cutAfterEvents: 4 }));
    const stream = await provider.chatCompletionStream(chat({ stream: true }), ctx());
    const error = await upstreamFailure(collectChunks(stream));
    expect(['unreachable', 'protocol']).toContain(error.failure.kind);
  });

  it('turns a stream that ends cleanly but early into an error', async () => {
    // No message_delta (with its stop_reason) and no message_stop: a proxy ended it early.
    const events = anthropicStreamEvents({ text: 'Hello there, friend' }).slice(0, 5);
    upstream.next((_req, res) => writeAnthropicEvents(res, events));
    const stream = await provider.chatCompletionStream(chat({ stream: true }), ctx());
    const error = await upstreamFailure(collectChunks(stream));
    expect(error.failure).toMatchObject({ kind: 'protocol' });
  });

  it('ends the stream with an error when Anthropic sends an error event midway', async () => {
    upstream.next(
      anthropicStream({
        text: 'Hello there, friend',
        errorAfterEvents: { events: 4, type: 'overloaded_error', message: 'Overloaded' },
      }),
    );
    const stream = await provider.chatCompletionStream(chat({ stream: true }), ctx());
    const error = await upstreamFailure(collectChunks(stream));
    expect(error.failure.kind).toBe('protocol');
  });

  it('says an unreachable upstream is unreachable', async () => {
    const closed = new FakeUpstream();
    await closed.start();
    const url = anthropicBaseUrl(closed);
    await closed.stop();
    const offline = new LangChainProvider(config({ options: { anthropicApiUrl: url } }));
    const error = await upstreamFailure(offline.chatCompletion(chat(), ctx()));
    expect(error.failure).toEqual({ kind: 'unreachable' });
  });
});

async function drain(iterator: AsyncIterator<string>): Promise<void> {
  for (;;) if ((await iterator.next()).done) return;
}
