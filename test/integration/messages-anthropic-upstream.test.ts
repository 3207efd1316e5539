import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  anthropicBaseUrl,
  anthropicError,
  anthropicMessage,
  anthropicStream,
} from '../helpers/anthropic-wire.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * The Messages API served by the native Anthropic provider: Anthropic's SDK talks to the
 * gateway, the gateway goes through chat and speaks Anthropic's wire format to a fake. What
 * the client sends arrives upstream with the same meaning, and the answer comes back whole.
 */
const upstream = new FakeUpstream();
let gateway: TestGateway;
let client: Anthropic;

beforeAll(async () => {
  await upstream.start();
  gateway = await startGateway(
    {
      providers: {
        claude: {
          type: 'anthropic',
          base_url: anthropicBaseUrl(upstream),
          api_key_env: 'TEST_ANTHROPIC_KEY',
        },
      },
      models: [
        {
          name: 'claude-test',
          provider: 'claude',
          model: 'claude-upstream-name',
          capabilities: { chat: true, tools: true },
        },
      ],
    },
    { TEST_ANTHROPIC_KEY: 'sk-ant-upstream' },
  );
  client = new Anthropic({ baseURL: gateway.url, apiKey: gateway.apiKey, maxRetries: 0 });
});
afterAll(async () => {
  await gateway?.close();
  await upstream.stop();
});
afterEach(() => upstream.reset());

const WEATHER: Anthropic.Tool = {
  name: 'get_weather',
  description: 'The weather in a city.',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

const sent = (index = 0) => upstream.requests[index]?.body;

describe('POST /v1/messages on an Anthropic upstream', () => {
  it('sends the request upstream with its meaning intact and returns the message', async () => {
    upstream.next(
      anthropicMessage({
        text: 'Bonjour !',
        inputTokens: 30,
        cacheReadTokens: 10,
        outputTokens: 5,
      }),
    );
    const message = await client.messages.create({
      model: 'claude-test',
      max_tokens: 100,
      system: 'Answer in French.',
      stop_sequences: ['###'],
      metadata: { user_id: 'u-1' },
      messages: [{ role: 'user', content: 'Hello' }],
    });
    expect(message).toMatchObject({
      id: 'msg_01FakeUpstream',
      content: [{ type: 'text', text: 'Bonjour !' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 30, cache_read_input_tokens: 10, output_tokens: 5 },
    });
    expect(upstream.requests[0]?.headers['x-api-key']).toBe('sk-ant-upstream');
    expect(sent()).toEqual({
      model: 'claude-upstream-name',
      max_tokens: 100,
      system: 'Answer in French.',
      messages: [{ role: 'user', content: 'Hello' }],
      stop_sequences: ['###'],
      metadata: { user_id: 'u-1' },
    });
  });

  it('streams text with messages.stream and its final message', async () => {
    upstream.next(anthropicStream({ text: 'Streaming works.', inputTokens: 14, outputTokens: 4 }));
    const stream = client.messages.stream({
      model: 'claude-test',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Stream please' }],
    });
    let text = '';
    stream.on('text', (delta) => {
      text += delta;
    });
    const final = await stream.finalMessage();
    expect(text).toBe('Streaming works.');
    expect(final).toMatchObject({
      content: [{ type: 'text', text: 'Streaming works.' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 14, output_tokens: 4 },
    });
    expect(sent()).toMatchObject({ stream: true });
  });

  it('round-trips a tool call: tool_use out, tool_result back in', async () => {
    upstream.next(
      anthropicStream({
        toolUses: [{ id: 'toolu_01', name: 'get_weather', input: { city: 'Rome' } }],
      }),
    );
    const asked = await client.messages
      .stream({
        model: 'claude-test',
        max_tokens: 100,
        tools: [WEATHER],
        tool_choice: { type: 'any' },
        messages: [{ role: 'user', content: 'Weather in Rome?' }],
      })
      .finalMessage();
    expect(asked.stop_reason).toBe('tool_use');
    expect(asked.content).toEqual([
      { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Rome' } },
    ]);
    expect(sent()).toMatchObject({
      tools: [
        {
          name: 'get_weather',
          description: 'The weather in a city.',
          input_schema: WEATHER.input_schema,
        },
      ],
      tool_choice: { type: 'any' },
    });

    upstream.next(anthropicMessage({ text: 'Warm and sunny.' }));
    const answered = await client.messages.create({
      model: 'claude-test',
      max_tokens: 100,
      tools: [WEATHER],
      messages: [
        { role: 'user', content: 'Weather in Rome?' },
        { role: 'assistant', content: asked.content },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: '25C, clear' }],
        },
      ],
    });
    expect(answered.content).toEqual([{ type: 'text', text: 'Warm and sunny.' }]);
    expect(sent(1)?.messages).toEqual([
      { role: 'user', content: 'Weather in Rome?' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: '25C, clear' }],
      },
    ]);
  });

  it("passes an upstream's invalid request on as Anthropic's invalid_request_error", async () => {
    upstream.next(
      anthropicError(400, 'invalid_request_error', 'prompt is too long: 300000 tokens'),
    );
    const error = await client.messages
      .create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .then(
        () => null,
        (caught: unknown) => caught,
      );
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect((error as InstanceType<typeof Anthropic.BadRequestError>).error).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'prompt is too long: 300000 tokens' },
    });
  });

  it('turns an upstream error event mid-stream into an error event', async () => {
    upstream.next(
      anthropicStream({
        text: 'partial answer here',
        errorAfterEvents: { events: 4, type: 'overloaded_error', message: 'Overloaded' },
      }),
    );
    const stream = client.messages.stream({
      model: 'claude-test',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const error = await stream.finalMessage().then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'api_error' },
    });
  });
});
