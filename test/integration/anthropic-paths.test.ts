import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionTool } from 'openai/resources/chat/completions';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  anthropicBaseUrl,
  anthropicError,
  anthropicMessage,
  anthropicStream,
  splitInto,
} from '../helpers/anthropic-wire.js';
import {
  chatCompletion,
  FakeUpstream,
  json,
  type RecordedRequest,
} from '../helpers/fake-upstream.js';
import {
  completionLog,
  startGateway,
  TEST_UPSTREAM_KEY,
  type TestGateway,
} from '../helpers/gateway.js';
import { expectOpenAISchema } from '../helpers/openai-schema.js';

/**
 * The two ways the gateway reaches Anthropic, end to end and with the same cases: the official
 * OpenAI SDK talks to the gateway, and the gateway speaks Anthropic's Messages wire format to
 * a fake, either itself (the native `anthropic` provider) or through LangChain's real
 * ChatAnthropic (the `langchain` bridge). What only one of them does is tested at the end.
 */

const ANTHROPIC_KEY = 'sk-ant-gateway-test-key';
const LANGCHAIN_KEY = 'sk-ant-langchain-bridge-key';
const anthropic = new FakeUpstream();
/** An OpenAI-compatible upstream, the second deployment of `claude-ha` and `claude-lc-ha`. */
const backup = new FakeUpstream();
let gateway: TestGateway;

/** One way to Anthropic: its provider, its models and the key it sends upstream. */
interface AnthropicPath {
  title: string;
  provider: string;
  key: string;
  /** The public model served by the provider alone. */
  model: string;
  /** The public model with the provider first and `openai-backup` second. */
  haModel: string;
  /** The provider's deployment id in `haModel`. */
  primary: string;
  upstreamModel: string;
}

const NATIVE: AnthropicPath = {
  title: 'Anthropic (native provider)',
  provider: 'claude',
  key: ANTHROPIC_KEY,
  model: 'claude-test',
  haModel: 'claude-ha',
  primary: 'anthropic-primary',
  upstreamModel: 'claude-upstream-name',
};

const LANGCHAIN: AnthropicPath = {
  title: 'LangChain ChatAnthropic',
  provider: 'claude-lc',
  key: LANGCHAIN_KEY,
  model: 'claude-lc-test',
  haModel: 'claude-lc-ha',
  primary: 'lc-primary',
  upstreamModel: 'claude-lc-upstream',
};

function models(path: AnthropicPath) {
  return [
    {
      name: path.model,
      provider: path.provider,
      model: path.upstreamModel,
      capabilities: { chat: true, tools: true },
    },
    {
      name: path.haModel,
      deployments: [
        { id: path.primary, provider: path.provider, model: path.upstreamModel },
        { id: 'openai-backup', provider: 'backup', model: 'backup-model', priority: 1 },
      ],
      capabilities: { chat: true },
    },
  ];
}

beforeAll(async () => {
  await Promise.all([anthropic.start(), backup.start()]);
  gateway = await startGateway(
    {
      providers: {
        [NATIVE.provider]: {
          type: 'anthropic',
          base_url: anthropicBaseUrl(anthropic),
          api_key_env: 'TEST_ANTHROPIC_KEY',
        },
        [LANGCHAIN.provider]: {
          type: 'langchain',
          module: '@langchain/anthropic',
          chat_class: 'ChatAnthropic',
          // ChatAnthropic hands anthropicApiUrl to the Anthropic SDK as its baseURL.
          options: { anthropicApiUrl: anthropicBaseUrl(anthropic) },
          api_key_env: 'TEST_LANGCHAIN_ANTHROPIC_KEY',
        },
        backup: {
          type: 'openai-compatible',
          base_url: backup.url,
          api_key_env: 'TEST_UPSTREAM_KEY',
        },
      },
      models: [...models(NATIVE), ...models(LANGCHAIN)],
    },
    { TEST_ANTHROPIC_KEY: ANTHROPIC_KEY, TEST_LANGCHAIN_ANTHROPIC_KEY: LANGCHAIN_KEY },
  );
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([anthropic.stop(), backup.stop()]);
});

afterEach(() => {
  anthropic.reset();
  backup.reset();
});

const WEATHER_TOOL: ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The current weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string' } },
      required: ['city'],
    },
  },
};

function only(fake: FakeUpstream): RecordedRequest {
  expect(fake.requests).toHaveLength(1);
  return fake.requests[0] as RecordedRequest;
}

/** Every chunk of a stream, and the gateway's request id for its log line. */
async function streamed(
  params: OpenAI.ChatCompletionCreateParamsStreaming,
): Promise<{ chunks: ChatCompletionChunk[]; requestId: string | null }> {
  const { data, response } = await gateway.client.chat.completions.create(params).withResponse();
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of data) chunks.push(chunk);
  return { chunks, requestId: response.headers.get('x-request-id') };
}

const contentDeltas = (chunks: ChatCompletionChunk[]) =>
  chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').filter((text) => text !== '');

interface AssembledCall {
  id: string | undefined;
  name: string;
  arguments: string;
  /** How many deltas named the call (its first one only, as OpenAI sends them). */
  namedDeltas: number;
}

/** Tool call deltas put together by index, as a client without the SDK's helpers would. */
function assembleToolCalls(chunks: ChatCompletionChunk[]): AssembledCall[] {
  const calls: AssembledCall[] = [];
  for (const chunk of chunks) {
    for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
      const call = calls[delta.index] ?? { id: undefined, name: '', arguments: '', namedDeltas: 0 };
      calls[delta.index] = call;
      if (delta.id !== undefined) call.id = delta.id;
      if (delta.function?.name) {
        call.name += delta.function.name;
        call.namedDeltas += 1;
      }
      call.arguments += delta.function?.arguments ?? '';
    }
  }
  return calls;
}

/** The error a request rejects with. */
const failure = (request: Promise<unknown>): Promise<unknown> =>
  request.then(
    () => null,
    (caught: unknown) => caught,
  );

describe.each([NATIVE, LANGCHAIN].map((path) => [path.title, path] as const))(
  '%s through the gateway',
  (_title, path) => {
    const stream = (
      params: Omit<OpenAI.ChatCompletionCreateParamsStreaming, 'model' | 'stream'>,
    ): ReturnType<typeof streamed> => streamed({ model: path.model, stream: true, ...params });

    describe('chat completions', () => {
      it('answers with the text, finish reason and usage, cached tokens included', async () => {
        anthropic.next(
          anthropicMessage({
            text: 'Hello from Claude.',
            inputTokens: 30,
            cacheReadTokens: 1000,
            cacheCreationTokens: 200,
            outputTokens: 5,
          }),
        );
        const { data, response } = await gateway.client.chat.completions
          .create({
            model: path.model,
            messages: [
              { role: 'system', content: 'Be brief.' },
              { role: 'user', content: 'Hi' },
            ],
            max_tokens: 64,
          })
          .withResponse();

        expect(data.choices).toHaveLength(1);
        expect(data.choices[0]?.message.content).toBe('Hello from Claude.');
        expect(data.choices[0]?.finish_reason).toBe('stop');
        expect(data.usage).toEqual({
          prompt_tokens: 1230,
          completion_tokens: 5,
          total_tokens: 1235,
          prompt_tokens_details: { cached_tokens: 1000 },
        });
        expectOpenAISchema('CreateChatCompletionResponse', data);
        expect(response.headers.get('x-llm-backend-model')).toBe(path.model);
        expect(response.headers.get('x-llm-backend-deployment')).toBe(path.provider);
        expect(response.headers.get('x-llm-backend-attempts')).toBe('1');

        const sent = only(anthropic);
        expect(sent.method).toBe('POST');
        expect(sent.url).toBe('/v1/messages');
        expect(sent.body).toMatchObject({
          model: path.upstreamModel,
          max_tokens: 64,
          system: 'Be brief.',
          messages: [{ role: 'user', content: 'Hi' }],
        });
        expect(sent.body?.stream).toBeFalsy();
        const log = await completionLog(gateway, response.headers.get('x-request-id'));
        expect(log).toMatchObject({
          status: 200,
          model: path.model,
          provider: path.provider,
          stream: false,
          tokens: { prompt: 1230, completion: 5, cached: 1000, total: 1235, estimated: false },
        });
      });

      it('maps stop reasons: max_tokens becomes length', async () => {
        anthropic.next(anthropicMessage({ text: 'Cut sh', stopReason: 'max_tokens' }));
        const data = await gateway.client.chat.completions.create({
          model: path.model,
          messages: [{ role: 'user', content: 'Write a long story' }],
        });
        expect(data.choices[0]?.finish_reason).toBe('length');
      });

      it('sends its key and anthropic-version upstream, never the client’s gateway key', async () => {
        anthropic.next(anthropicMessage({ text: 'plain' }), anthropicStream({ text: 'streamed' }));
        await gateway.client.chat.completions.create({
          model: path.model,
          messages: [{ role: 'user', content: 'Hi' }],
        });
        await stream({ messages: [{ role: 'user', content: 'Hi' }] });

        expect(anthropic.requests).toHaveLength(2);
        for (const sent of anthropic.requests) {
          expect(sent.headers['x-api-key']).toBe(path.key);
          expect(sent.headers['anthropic-version']).toBe('2023-06-01');
          expect(sent.headers.authorization).toBeUndefined();
          const everything = JSON.stringify([sent.headers, sent.body]);
          expect(everything).not.toContain(gateway.apiKey);
        }
      });
    });

    describe('streams', () => {
      const text = 'Hello, streaming world!';

      it('yields the text in order and logs the usage, without showing it to the client', async () => {
        anthropic.next(
          anthropicStream({ text, inputTokens: 20, cacheReadTokens: 4, outputTokens: 6 }),
        );
        const { chunks, requestId } = await stream({
          messages: [{ role: 'user', content: 'Stream please' }],
        });

        expect(contentDeltas(chunks)).toEqual(splitInto(text, 3));
        expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
        expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
        expect(chunks.every((chunk) => chunk.choices.length === 1 && !('usage' in chunk))).toBe(
          true,
        );
        for (const chunk of chunks) expectOpenAISchema('CreateChatCompletionStreamResponse', chunk);

        const sent = only(anthropic);
        expect(sent.body).toMatchObject({ model: path.upstreamModel, stream: true });
        expect(sent.body).not.toHaveProperty('stream_options');
        const log = await completionLog(gateway, requestId);
        expect(log).toMatchObject({
          status: 200,
          stream: true,
          provider: path.provider,
          tokens: { prompt: 24, completion: 6, cached: 4, total: 30, estimated: false },
        });
      });

      it('ends with a usage chunk when stream_options.include_usage is set', async () => {
        anthropic.next(
          anthropicStream({ text, inputTokens: 20, cacheReadTokens: 4, outputTokens: 6 }),
        );
        const { chunks, requestId } = await stream({
          messages: [{ role: 'user', content: 'Stream please' }],
          stream_options: { include_usage: true },
        });

        const last = chunks.at(-1);
        expect(last?.choices).toEqual([]);
        expect(last?.usage).toEqual({
          prompt_tokens: 24,
          completion_tokens: 6,
          total_tokens: 30,
          prompt_tokens_details: { cached_tokens: 4 },
        });
        const rest = chunks.slice(0, -1);
        expect(rest.every((chunk) => chunk.usage === null && chunk.choices.length === 1)).toBe(
          true,
        );
        expect(contentDeltas(rest)).toEqual(splitInto(text, 3));
        expect(rest.at(-1)?.choices[0]?.finish_reason).toBe('stop');
        for (const chunk of chunks) expectOpenAISchema('CreateChatCompletionStreamResponse', chunk);

        const log = await completionLog(gateway, requestId);
        expect(log).toMatchObject({
          provider: path.provider,
          tokens: { prompt: 24, completion: 6, cached: 4, total: 30, estimated: false },
        });
      });
    });

    describe('tools', () => {
      it('returns tool calls and carries a tool result back as a tool_result block', async () => {
        anthropic.next(
          anthropicMessage({
            toolUses: [{ id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } }],
          }),
        );
        const question = { role: 'user', content: 'Weather in Paris?' } as const;
        const first = await gateway.client.chat.completions.create({
          model: path.model,
          messages: [question],
          tools: [WEATHER_TOOL],
          tool_choice: 'required',
        });

        const message = first.choices[0]?.message;
        expect(first.choices[0]?.finish_reason).toBe('tool_calls');
        expect(message?.content).toBeNull();
        expect(message?.tool_calls).toEqual([
          {
            id: 'toolu_01',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
        ]);
        expectOpenAISchema('CreateChatCompletionResponse', first);
        expect(only(anthropic).body).toMatchObject({
          tools: [
            {
              name: 'get_weather',
              description: 'The current weather in a city',
              input_schema: WEATHER_TOOL.function.parameters,
            },
          ],
          tool_choice: { type: 'any' },
        });

        anthropic.reset();
        anthropic.next(anthropicMessage({ text: 'It is 18°C and sunny in Paris.' }));
        if (message === undefined) throw new Error('no message');
        const second = await gateway.client.chat.completions.create({
          model: path.model,
          messages: [
            question,
            message,
            { role: 'tool', tool_call_id: 'toolu_01', content: '18°C, sunny' },
          ],
          tools: [WEATHER_TOOL],
        });

        expect(second.choices[0]?.message.content).toBe('It is 18°C and sunny in Paris.');
        expect(second.choices[0]?.finish_reason).toBe('stop');
        const sent = only(anthropic).body;
        expect(sent?.messages).toEqual([
          { role: 'user', content: 'Weather in Paris?' },
          {
            role: 'assistant',
            content: [
              { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } },
            ],
          },
          {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: '18°C, sunny' }],
          },
        ]);
        // No tool_choice from the client: Anthropic's default (auto), so none is sent.
        expect(sent).not.toHaveProperty('tool_choice');
      });

      it('streams text and two tool calls whose deltas assemble by index and in the SDK', async () => {
        const paris = { city: 'Paris', unit: 'celsius' };
        const oslo = { city: 'Oslo' };
        anthropic.next(
          anthropicStream({
            text: 'Let me check both.',
            toolUses: [
              { id: 'toolu_p', name: 'get_weather', input: paris },
              { id: 'toolu_o', name: 'get_weather', input: oslo },
            ],
          }),
        );
        const runner = gateway.client.chat.completions.stream({
          model: path.model,
          messages: [{ role: 'user', content: 'Weather in Paris and Oslo?' }],
          tools: [WEATHER_TOOL],
          parallel_tool_calls: true,
        });
        const chunks: ChatCompletionChunk[] = [];
        runner.on('chunk', (chunk) => chunks.push(chunk));
        const final = await runner.finalChatCompletion();

        // What the SDK's stream helper makes of the deltas.
        const choice = final.choices[0];
        expect(choice?.finish_reason).toBe('tool_calls');
        expect(choice?.message.content).toBe('Let me check both.');
        expect(
          (choice?.message.tool_calls ?? []).map((call) =>
            call.type === 'function'
              ? [call.id, call.function.name, JSON.parse(call.function.arguments)]
              : null,
          ),
        ).toEqual([
          ['toolu_p', 'get_weather', paris],
          ['toolu_o', 'get_weather', oslo],
        ]);

        // The deltas themselves.
        expect(contentDeltas(chunks).join('')).toBe('Let me check both.');
        const calls = assembleToolCalls(chunks);
        // Anthropic's blocks 1 and 2 (block 0 is the text) are OpenAI's tool calls 0 and 1.
        expect(calls.map((call) => [call.id, call.name, call.namedDeltas])).toEqual([
          ['toolu_p', 'get_weather', 1],
          ['toolu_o', 'get_weather', 1],
        ]);
        expect(calls.map((call) => JSON.parse(call.arguments))).toEqual([paris, oslo]);
        // Arguments arrive in pieces, as the fake sent them, not in one final delta.
        const argumentDeltas = chunks.flatMap((chunk) =>
          (chunk.choices[0]?.delta.tool_calls ?? []).filter((d) => d.function?.arguments),
        );
        expect(argumentDeltas.length).toBeGreaterThan(2);
        const finishes = chunks.map((chunk) => chunk.choices[0]?.finish_reason).filter(Boolean);
        expect(finishes).toEqual(['tool_calls']);
        for (const chunk of chunks) expectOpenAISchema('CreateChatCompletionStreamResponse', chunk);

        const sent = only(anthropic).body;
        expect(sent).toMatchObject({ stream: true, tools: [{ name: 'get_weather' }] });
        expect(sent).not.toHaveProperty('tool_choice');
      });
    });

    describe('errors and routing', () => {
      it('passes an upstream 429 with its retry-after to the client as a RateLimitError', async () => {
        anthropic.next(
          anthropicError(
            429,
            'rate_limit_error',
            'Number of request tokens has exceeded your rate limit',
            {
              'retry-after': '7',
            },
          ),
        );
        const error = await failure(
          gateway.client.chat.completions.create(
            { model: path.model, messages: [{ role: 'user', content: 'Hi' }] },
            { maxRetries: 0 },
          ),
        );

        expect(error).toBeInstanceOf(OpenAI.RateLimitError);
        const rateLimited = error as InstanceType<typeof OpenAI.RateLimitError>;
        expect(rateLimited.status).toBe(429);
        expect(rateLimited.headers.get('retry-after')).toBe('7');
        expect(rateLimited.code).toBe('rate_limit_exceeded');
        expect(rateLimited.message).toContain('exceeded your rate limit');
        // One request: the gateway did not retry a 429, nor did LangChain (its retries are off).
        expect(anthropic.requests).toHaveLength(1);
      });

      it('moves on from an overloaded (529) deployment to the OpenAI-compatible one', async () => {
        anthropic.next(anthropicError(529, 'overloaded_error', 'Overloaded'));
        backup.next((_req, res) => json(res, 200, chatCompletion('Answer from the backup')));
        const { data, response } = await gateway.client.chat.completions
          .create({ model: path.haModel, messages: [{ role: 'user', content: 'Hi' }] })
          .withResponse();

        expect(data.choices[0]?.message.content).toBe('Answer from the backup');
        expect(response.headers.get('x-llm-backend-model')).toBe(path.haModel);
        expect(response.headers.get('x-llm-backend-deployment')).toBe('openai-backup');
        expect(response.headers.get('x-llm-backend-attempts')).toBe('2');
        const tried = only(anthropic);
        expect(tried.url).toBe('/v1/messages');
        expect(tried.body).toMatchObject({ model: path.upstreamModel });
        const sent = only(backup);
        expect(sent.url).toBe('/v1/chat/completions');
        expect(sent.body).toEqual({
          model: 'backup-model',
          messages: [{ role: 'user', content: 'Hi' }],
        });
        expect(sent.headers.authorization).toBe(`Bearer ${TEST_UPSTREAM_KEY}`);
        const log = await completionLog(gateway, response.headers.get('x-request-id'));
        expect(log).toMatchObject({ provider: 'backup', deployment: 'openai-backup', attempts: 2 });
      });

      it('names its own deployment when it serves the request itself', async () => {
        anthropic.next(anthropicMessage({ text: 'Served by the primary.' }));
        const { data, response } = await gateway.client.chat.completions
          .create({ model: path.haModel, messages: [{ role: 'user', content: 'Hi' }] })
          .withResponse();

        expect(data.choices[0]?.message.content).toBe('Served by the primary.');
        expect(response.headers.get('x-llm-backend-deployment')).toBe(path.primary);
        expect(response.headers.get('x-llm-backend-attempts')).toBe('1');
        expect(backup.requests).toHaveLength(0);
      });
    });
  },
);

describe('Anthropic (native provider) only', () => {
  it('sends exactly the translated request, temperature capped at Anthropic’s 1', async () => {
    anthropic.next(anthropicMessage({ text: 'Hello from Claude.' }));
    await gateway.client.chat.completions.create({
      model: NATIVE.model,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      max_tokens: 64,
      temperature: 1.5,
    });

    expect(only(anthropic).body).toEqual({
      model: NATIVE.upstreamModel,
      max_tokens: 64,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 1,
    });
  });

  it('sends its default max_tokens when the client set none', async () => {
    anthropic.next(anthropicMessage({ text: 'Cut sh', stopReason: 'max_tokens' }));
    await gateway.client.chat.completions.create({
      model: NATIVE.model,
      messages: [{ role: 'user', content: 'Write a long story' }],
    });
    // Anthropic requires a maximum, so the provider's default (4096) goes.
    expect(only(anthropic).body?.max_tokens).toBe(4096);
  });

  it('refuses n: 2 with a 400 naming the parameter, and sends nothing upstream', async () => {
    const error = await failure(
      gateway.client.chat.completions.create({
        model: NATIVE.model,
        n: 2,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    );

    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const refused = error as InstanceType<typeof OpenAI.BadRequestError>;
    expect(refused.status).toBe(400);
    expect(refused.param).toBe('n');
    expect(refused.type).toBe('invalid_request_error');
    expect(refused.message).toContain('n to 1');
    expect(anthropic.requests).toHaveLength(0);
  });
});
