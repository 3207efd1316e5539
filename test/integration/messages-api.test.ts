import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { estimatePrompt } from '../../src/services/inference/estimate.js';
import {
  chatCompletion,
  chunk,
  json,
  type RecordedRequest,
  sse,
  textChunks,
  toolCallCompletion,
} from '../helpers/fake-upstream.js';
import { type TestGateway, useUpstreamGateway } from '../helpers/gateway.js';

/**
 * Anthropic's Messages API in front of an OpenAI-format upstream, driven by Anthropic's own
 * SDK as its users drive it: the request reaches the upstream as a chat request, the answer
 * comes back as a message, streamed with Anthropic's events.
 */
const { upstream, gateway } = useUpstreamGateway();

const anthropic = (g: TestGateway, options: { apiKey?: string | null; authToken?: string } = {}) =>
  new Anthropic({
    baseURL: g.url,
    apiKey: options.apiKey === undefined ? g.apiKey : options.apiKey,
    authToken: options.authToken ?? null,
    maxRetries: 0,
  });

const WEATHER: Anthropic.Tool = {
  name: 'get_weather',
  description: 'The weather in a city.',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

const sent = (index = 0): Record<string, unknown> => {
  const request: RecordedRequest | undefined = upstream.requests[index];
  if (!request?.body) throw new Error(`no upstream request ${index}`);
  return request.body;
};

const toolCallAnswer = toolCallCompletion();

describe('POST /v1/messages on an OpenAI-format upstream', () => {
  it('answers messages.create with a message, the request mapped to a chat request', async () => {
    upstream.next((_req, res) => json(res, 200, chatCompletion('Hello there!')));
    // Sampling fields the SDK's types no longer list, as older clients still send them.
    const params = {
      model: 'gpt-test',
      max_tokens: 64,
      system: [{ type: 'text', text: 'Be brief.' }],
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 0.5,
      top_p: 0.9,
      top_k: 40,
      stop_sequences: ['END'],
      metadata: { user_id: 'user-42' },
    } as Anthropic.MessageCreateParamsNonStreaming;
    const message = await anthropic(gateway).messages.create(params);
    expect(message).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [{ type: 'text', text: 'Hello there!' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      // The upstream's 9 prompt tokens, 2 of them cached: Anthropic counts those apart.
      usage: { input_tokens: 7, output_tokens: 4, cache_read_input_tokens: 2 },
    });
    expect(message.id).toMatch(/^msg_/);
    expect(sent()).toEqual({
      model: 'upstream-model',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      max_tokens: 64,
      temperature: 0.5,
      top_p: 0.9,
      stop: ['END'],
      user: 'user-42',
    });
  });

  it('streams with messages.stream: Anthropic events, the text and the final message', async () => {
    upstream.next((_req, res) => sse(res, textChunks(['Hel', 'lo', '!'], { usage: true })));
    const stream = anthropic(gateway).messages.stream({
      model: 'gpt-test',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const types: string[] = [];
    let text = '';
    stream.on('streamEvent', (event) => types.push(event.type));
    stream.on('text', (delta) => {
      text += delta;
    });
    const final = await stream.finalMessage();
    expect(text).toBe('Hello!');
    // The SDK keeps pings to itself; the framing test below sees them.
    expect(types).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(final).toMatchObject({
      content: [{ type: 'text', text: 'Hello!' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 7, output_tokens: 3 },
    });
    expect(sent()).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it("writes Anthropic's SSE framing: an event line and a data line per event", async () => {
    upstream.next((_req, res) => sse(res, textChunks(['Hi'], { usage: true })));
    const response = await gateway.fetch('/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-test',
        max_tokens: 8,
        stream: true,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = (await response.text()).split('\n\n').filter(Boolean);
    const names = events.map((event) => {
      const [name, data, ...rest] = event.split('\n');
      expect(rest).toEqual([]);
      const type = (JSON.parse(String(data).replace(/^data: /, '')) as { type: string }).type;
      expect(name).toBe(`event: ${type}`);
      return type;
    });
    expect(names).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(events.at(-2)).toContain('"usage":{"input_tokens":7,"output_tokens":1');
  });

  it('returns a tool_use answer and takes the tool_result back, both ways', async () => {
    upstream.next((_req, res) => json(res, 200, toolCallAnswer));
    const client = anthropic(gateway);
    const asked = await client.messages.create({
      model: 'gpt-test',
      max_tokens: 64,
      tools: [WEATHER],
      tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    });
    expect(asked.stop_reason).toBe('tool_use');
    expect(asked.content).toEqual([
      { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
    ]);
    expect(sent()).toMatchObject({
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'The weather in a city.',
            parameters: WEATHER.input_schema,
          },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
    });

    upstream.next((_req, res) => json(res, 200, chatCompletion('Sunny, 21 degrees.')));
    const answered = await client.messages.create({
      model: 'gpt-test',
      max_tokens: 64,
      tools: [WEATHER],
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: asked.content },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_1', content: 'sunny, 21C' },
            { type: 'text', text: 'Summarise.' },
          ],
        },
      ],
    });
    expect(answered.content).toEqual([{ type: 'text', text: 'Sunny, 21 degrees.' }]);
    expect(sent(1).messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny, 21C' },
      { role: 'user', content: 'Summarise.' },
    ]);
  });

  it('streams a tool call as tool_use blocks with input_json_delta', async () => {
    const call = (fn: Record<string, unknown>, id?: string) =>
      chunk({ tool_calls: [{ index: 0, ...(id && { id, type: 'function' }), function: fn }] });
    upstream.next((_req, res) =>
      sse(res, [
        chunk({ role: 'assistant', content: 'Let me check.' }),
        call({ name: 'get_weather', arguments: '' }, 'call_9'),
        call({ arguments: '{"city":' }),
        call({ arguments: '"Oslo"}' }),
        { ...chunk({}), choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
        { ...chunk({}), choices: [], usage: { prompt_tokens: 20, completion_tokens: 11 } },
      ]),
    );
    const stream = anthropic(gateway).messages.stream({
      model: 'gpt-test',
      max_tokens: 64,
      tools: [WEATHER],
      tool_choice: { type: 'any' },
      messages: [{ role: 'user', content: 'Weather in Oslo?' }],
    });
    const partials: string[] = [];
    stream.on('inputJson', (partial) => partials.push(partial));
    const final = await stream.finalMessage();
    expect(partials).toEqual(['{"city":', '"Oslo"}']);
    expect(final.content).toEqual([
      { type: 'text', text: 'Let me check.' },
      { type: 'tool_use', id: 'call_9', name: 'get_weather', input: { city: 'Oslo' } },
    ]);
    expect(final.stop_reason).toBe('tool_use');
    expect(final.usage).toMatchObject({ input_tokens: 20, output_tokens: 11 });
    expect(sent().tool_choice).toBe('required');
  });

  it('maps max_tokens and images, base64 and by URL', async () => {
    upstream.next((_req, res) =>
      json(
        res,
        200,
        chatCompletion('A cat', {
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: 'A cat' },
              finish_reason: 'length',
            },
          ],
        }),
      ),
    );
    const message = await anthropic(gateway).messages.create({
      model: 'gpt-test',
      max_tokens: 2,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBOR' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
            { type: 'text', text: 'What is this?' },
          ],
        },
      ],
    });
    expect(message.stop_reason).toBe('max_tokens');
    expect(sent().messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBOR' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
          { type: 'text', text: 'What is this?' },
        ],
      },
    ]);
  });

  it('ends a stream the upstream cut with an Anthropic error event', async () => {
    upstream.next((_req, res) => sse(res, textChunks(['a', 'b', 'c']), { cutAfter: 2 }));
    const stream = anthropic(gateway).messages.stream({
      model: 'gpt-test',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const failure = await stream.finalMessage().then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(APIError);
    expect((failure as APIError).error).toMatchObject({
      type: 'error',
      error: { type: 'api_error' },
    });
  });
});

describe('POST /v1/messages on the mock provider', () => {
  it('answers whole and streamed, as the quickstart config would', async () => {
    const client = anthropic(gateway);
    const params = {
      model: 'org/model-with-slash',
      max_tokens: 32,
      messages: [{ role: 'user' as const, content: 'Hello mock' }],
    };
    const whole = await client.messages.create(params);
    const text = whole.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
    expect(text).not.toBe('');
    expect(whole.usage.output_tokens).toBeGreaterThan(0);
    const streamed = await client.messages.stream(params).finalMessage();
    expect(streamed.content).toEqual(whole.content);
    expect(streamed.usage).toMatchObject({
      input_tokens: whole.usage.input_tokens,
      output_tokens: whole.usage.output_tokens,
    });
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('Messages API authentication', () => {
  it('takes the key in x-api-key, as the SDK sends apiKey', async () => {
    upstream.next((_req, res) => json(res, 200, chatCompletion('ok')));
    const response = await anthropic(gateway)
      .messages.create({
        model: 'gpt-test',
        max_tokens: 8,
        messages: [{ role: 'user', content: 'Hi' }],
      })
      .withResponse();
    expect(response.data.content).toEqual([{ type: 'text', text: 'ok' }]);
    expect(response.request_id).toBe(response.response.headers.get('x-request-id'));
  });

  it('takes the key as Authorization: Bearer, as the SDK sends authToken', async () => {
    upstream.next((_req, res) => json(res, 200, chatCompletion('ok')));
    const client = anthropic(gateway, { apiKey: null, authToken: gateway.apiKey });
    const message = await client.messages.create({
      model: 'gpt-test',
      max_tokens: 8,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(message.content).toEqual([{ type: 'text', text: 'ok' }]);
  });

  it('refuses a wrong key with an Anthropic authentication_error, before any upstream call', async () => {
    const error = await anthropic(gateway, { apiKey: 'llmb_wrong' })
      .messages.create({
        model: 'gpt-test',
        max_tokens: 8,
        messages: [{ role: 'user', content: 'Hi' }],
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((error as APIError).requestID).toMatch(/^req_/);
    expect((error as APIError).error).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error' },
    });
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('Messages API bad input', () => {
  it('answers a body that is not JSON with an Anthropic invalid_request_error', async () => {
    const response = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': gateway.apiKey },
      body: '{"model": "gpt-test", ',
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('request-id')).toBe(response.headers.get('x-request-id'));
    expect(await response.json()).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error' },
    });
    expect(upstream.requests).toHaveLength(0);
  });

  it('names a text block without text', async () => {
    const response = await gateway.fetch('/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-test',
        max_tokens: 8,
        messages: [{ role: 'user', content: [{ type: 'text' }] }],
      }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'messages[0].content[0].text: Text blocks need a string text.',
      },
    });
  });
});

describe('POST /v1/messages/count_tokens', () => {
  it("counts the input tokens with the gateway's estimator, calling no model", async () => {
    const params = {
      model: 'gpt-test',
      system: 'Be brief.',
      tools: [WEATHER],
      messages: [{ role: 'user' as const, content: 'How many tokens is this?' }],
    };
    const counted = await anthropic(gateway).messages.countTokens(params);
    const expected = await estimatePrompt('chat', {
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'How many tokens is this?' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: WEATHER.name,
            description: WEATHER.description,
            parameters: WEATHER.input_schema,
          },
        },
      ],
    });
    expect(counted).toEqual({ input_tokens: expected });
    expect(upstream.requests).toHaveLength(0);
  });

  it('refuses an unknown model with a 404 not_found_error', async () => {
    const error = await anthropic(gateway)
      .messages.countTokens({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Anthropic.NotFoundError);
  });
});

describe('the OpenAPI document', () => {
  it('describes /v1/messages and count_tokens, with the key in either header', async () => {
    const doc = (await (await fetch(`${gateway.url}/openapi.json`)).json()) as {
      paths: Record<string, { post?: Record<string, unknown> }>;
    };
    const create = doc.paths['/v1/messages']?.post as {
      requestBody: { content: { 'application/json': { schema: { required: string[] } } } };
      security: unknown;
    };
    expect(create.requestBody.content['application/json'].schema.required.sort()).toEqual([
      'max_tokens',
      'messages',
      'model',
    ]);
    expect(create.security).toEqual([{ apiKeyAuth: [] }, { bearerAuth: [] }]);
    expect(doc.paths['/v1/messages/count_tokens']?.post).toBeDefined();
  });
});
