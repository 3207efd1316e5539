import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.js';
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
import { expectOpenAISchema } from '../helpers/openai-schema.js';

/**
 * OpenAI's Responses API in front of a chat-completions upstream, driven by the openai SDK as
 * its users drive it: the request reaches the upstream as a chat request, the answer comes
 * back as a `response` (or its typed events), checked against OpenAI's own schemas.
 */
const { upstream, gateway } = useUpstreamGateway();

const sent = (index = 0): Record<string, unknown> => {
  const request: RecordedRequest | undefined = upstream.requests[index];
  if (!request?.body) throw new Error(`no upstream request ${index}`);
  return request.body;
};

const WEATHER = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The weather in a city.',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: true,
};

const toolCallAnswer = toolCallCompletion();

/** A key of its own in the test tenant: responses are scoped to the key that made them. */
async function otherKeyClient(g: TestGateway): Promise<OpenAI> {
  const { secret } = await g.services.keys.create('test', { name: 'other', role: 'owner' });
  return new OpenAI({ apiKey: secret, baseURL: `${g.url}/v1`, maxRetries: 0 });
}

describe('POST /v1/responses on a chat-completions upstream', () => {
  it('answers responses.create with a response, the request mapped to a chat request', async () => {
    upstream.next((_req, res) => json(res, 200, chatCompletion('Hello there!')));
    const response = await gateway.client.responses.create({
      model: 'gpt-test',
      instructions: 'Be brief.',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'What is this?' },
            { type: 'input_image', image_url: 'https://example.com/cat.png', detail: 'low' },
          ],
        },
      ],
      max_output_tokens: 64,
      temperature: 0.5,
      text: {
        format: {
          type: 'json_schema',
          name: 'answer',
          schema: { type: 'object', properties: { a: { type: 'string' } } },
          strict: true,
        },
      },
      metadata: { topic: 'cats' },
    });
    expectOpenAISchema('Response', response);
    expect(response).toMatchObject({
      object: 'response',
      status: 'completed',
      model: 'upstream-model',
      instructions: 'Be brief.',
      metadata: { topic: 'cats' },
      store: true,
      usage: {
        input_tokens: 9,
        input_tokens_details: { cached_tokens: 2 },
        output_tokens: 4,
        total_tokens: 13,
      },
    });
    expect(response.id).toMatch(/^resp_/);
    expect(response.output_text).toBe('Hello there!');
    expect(sent()).toMatchObject({
      model: 'upstream-model',
      max_tokens: 64,
      temperature: 0.5,
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'low' } },
          ],
        },
      ],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', strict: true, schema: { type: 'object' } },
      },
    });
    expect(sent().stream).toBeUndefined();
  });

  it('streams typed events, each valid against OpenAI schema, to the final response', async () => {
    upstream.next((_req, res) => sse(res, textChunks(['Hel', 'lo', '!'], { usage: true })));
    const stream = gateway.client.responses.stream({ model: 'gpt-test', input: 'Hi' });
    const events: { type: string; sequence_number: number }[] = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalResponse();
    for (const event of events) expectOpenAISchema('ResponseStreamEvent', event);
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_e, index) => index));
    expect(events.map((event) => event.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(final.output_text).toBe('Hello!');
    expect(final.usage).toMatchObject({ input_tokens: 7, output_tokens: 3, total_tokens: 10 });
    expect(sent()).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    // Stored as streamed: the same response comes back by id.
    const stored = await gateway.client.responses.retrieve(final.id);
    expect(final.output).toMatchObject(stored.output);
  });

  it('streams function calls and a reasoning summary as their own items', async () => {
    const call = (args: string, extra: Record<string, unknown> = {}) =>
      chunk({ tool_calls: [{ index: 0, function: { arguments: args }, ...extra }] });
    upstream.next((_req, res) =>
      sse(res, [
        chunk({ role: 'assistant', reasoning_content: 'Paris is a city. ' }),
        chunk({ reasoning_content: 'Ask the tool.' }),
        call('', { id: 'call_9', type: 'function', function: { name: 'get_weather' } }),
        call('{"city":'),
        call('"Paris"}'),
        { ...chunk({}), choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
      ]),
    );
    const stream = gateway.client.responses.stream({
      model: 'gpt-test',
      input: 'Weather in Paris?',
      tools: [WEATHER],
    });
    const events: { type: string }[] = [];
    for await (const event of stream) events.push(event);
    for (const event of events) expectOpenAISchema('ResponseStreamEvent', event);
    const types = events.map((event) => event.type);
    expect(types).toContain('response.reasoning_summary_text.delta');
    expect(types.filter((type) => type === 'response.function_call_arguments.delta')).toHaveLength(
      2,
    );
    expect(types).toContain('response.function_call_arguments.done');
    const final = await stream.finalResponse();
    expect(final.output.map((item) => item.type)).toEqual(['reasoning', 'function_call']);
    expect(final.output[0]).toMatchObject({
      summary: [{ type: 'summary_text', text: 'Paris is a city. Ask the tool.' }],
    });
    expect(final.output[1]).toMatchObject({
      call_id: 'call_9',
      name: 'get_weather',
      arguments: '{"city":"Paris"}',
      status: 'completed',
    });
    expect(sent().tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: WEATHER.description,
          parameters: WEATHER.parameters,
          strict: true,
        },
      },
    ]);
  });

  it('runs a function tool round trip over previous_response_id', async () => {
    upstream.next((_req, res) => json(res, 200, toolCallAnswer));
    upstream.next((_req, res) => json(res, 200, chatCompletion('It is sunny in Paris.')));
    const first = await gateway.client.responses.create({
      model: 'gpt-test',
      input: 'Weather in Paris?',
      tools: [WEATHER],
      tool_choice: { type: 'function', name: 'get_weather' },
    });
    expectOpenAISchema('Response', first);
    const [call] = first.output;
    expect(call).toMatchObject({
      type: 'function_call',
      call_id: 'call_1',
      name: 'get_weather',
      arguments: '{"city":"Paris"}',
    });
    expect(sent(0).tool_choice).toEqual({ type: 'function', function: { name: 'get_weather' } });
    const second = await gateway.client.responses.create({
      model: 'gpt-test',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: 'call_1', output: '{"sky":"clear"}' }],
      tools: [WEATHER],
    });
    expect(second.output_text).toBe('It is sunny in Paris.');
    expect(second.previous_response_id).toBe(first.id);
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
      { role: 'tool', tool_call_id: 'call_1', content: '{"sky":"clear"}' },
    ]);
  });

  it('lists input items, retrieves, refuses to cancel and deletes a stored response', async () => {
    upstream.next((_req, res) => json(res, 200, chatCompletion('One.')));
    upstream.next((_req, res) => json(res, 200, chatCompletion('Two.')));
    const first = await gateway.client.responses.create({ model: 'gpt-test', input: 'Count' });
    const second = await gateway.client.responses.create({
      model: 'gpt-test',
      input: 'Go on',
      previous_response_id: first.id,
    });
    const items = await gateway.client.responses.inputItems.list(second.id, { order: 'asc' });
    expectOpenAISchema('ResponseItemList', {
      object: 'list',
      data: items.data,
      first_id: items.data[0]?.id,
      last_id: items.data.at(-1)?.id,
      has_more: false,
    });
    expect(items.data.map((item) => item.type)).toEqual(['message', 'message', 'message']);
    expect(items.data.map((item) => (item.type === 'message' ? item.role : null))).toEqual([
      'user',
      'assistant',
      'user',
    ]);
    const page = await gateway.fetch(`/v1/responses/${second.id}/input_items?limit=1`);
    const firstPage = (await page.json()) as { data: { id: string }[]; has_more: boolean };
    expect(firstPage.has_more).toBe(true);
    expect(firstPage.data[0]?.id).toBe(items.data[2]?.id);

    const cancel = await apiError(gateway.client.responses.cancel(first.id));
    expect(cancel.status).toBe(400);
    expect((await gateway.client.responses.retrieve(first.id)).output_text).toBe('One.');
    await gateway.client.responses.delete(first.id);
    const gone = await apiError(gateway.client.responses.retrieve(first.id));
    expect(gone.status).toBe(404);
    expect(gone.code).toBe('response_not_found');
    expect((await apiError(gateway.client.responses.delete(first.id))).status).toBe(404);
    // The conversation's later turn keeps its own copy of what came before.
    expect((await gateway.client.responses.retrieve(second.id)).output_text).toBe('Two.');
  });

  it('keeps nothing with store: false', async () => {
    upstream.next((_req, res) => json(res, 200, chatCompletion('Forgotten.')));
    const response = await gateway.client.responses.create({
      model: 'gpt-test',
      input: 'Hi',
      store: false,
    });
    expect(response).toMatchObject({ store: false });
    expect((await apiError(gateway.client.responses.retrieve(response.id))).status).toBe(404);
  });

  it("answers 404 for another key's response, and sends nothing upstream", async () => {
    upstream.next((_req, res) => json(res, 200, chatCompletion('Mine.')));
    const mine = await gateway.client.responses.create({ model: 'gpt-test', input: 'Hi' });
    const other = await otherKeyClient(gateway);
    for (const call of [
      () => other.responses.retrieve(mine.id),
      () => other.responses.inputItems.list(mine.id),
      () => other.responses.delete(mine.id),
      () =>
        other.responses.create({ model: 'gpt-test', input: 'Hi', previous_response_id: mine.id }),
    ]) {
      const error = await apiError(call());
      expect(error.status).toBe(404);
      expect(error.code).toBe('response_not_found');
    }
    expect(upstream.requests).toHaveLength(1);
    expect((await gateway.client.responses.retrieve(mine.id)).output_text).toBe('Mine.');
  });

  it('refuses bad input with OpenAI errors before any upstream call', async () => {
    const bad: [Record<string, unknown>, number, string | null][] = [
      [{ model: 'gpt-test' }, 400, null],
      [
        { model: 'gpt-test', input: [{ type: 'web_search_call', id: 'ws_1' }] },
        400,
        'input[0].type',
      ],
      [{ model: 'gpt-test', input: [{ role: 'robot', content: 'Hi' }] }, 400, 'input[0].role'],
      [
        { model: 'gpt-test', input: [{ role: 'user', content: [{ type: 'input_audio' }] }] },
        400,
        'input[0].content[0].type',
      ],
      [{ model: 'gpt-test', input: 'Hi', tools: [{ type: 'web_search' }] }, 400, 'tools[0]'],
      [
        { model: 'gpt-test', input: 'Hi', previous_response_id: 'resp_unknown' },
        404,
        'previous_response_id',
      ],
      [{ model: 'no-such-model', input: 'Hi' }, 404, 'model'],
    ];
    for (const [body, status, param] of bad) {
      const response = await gateway.fetch('/v1/responses', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const error = ((await response.json()) as { error: Record<string, unknown> }).error;
      expect({ status: response.status, body }).toEqual({ status, body });
      expect(error.type).toBe('invalid_request_error');
      if (param !== null) expect(error.param).toBe(param);
    }
    expect(upstream.requests).toHaveLength(0);
  });

  it('ends a cut stream with response.failed and an error the SDK raises', async () => {
    upstream.next((_req, res) =>
      sse(res, textChunks(['Hal', 'lo', ' wor']), { cutAfter: 3, gapMs: 5 }),
    );
    const stream = gateway.client.responses.stream({ model: 'gpt-test', input: 'Hi' });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    stream.on('event', (event) => events.push(event));
    const error = await stream.finalResponse().then(
      () => null,
      (caught: unknown) => caught,
    );
    // The SDK rejects with the stream's `error` event, after the failed response.
    expect(error).toMatchObject({ type: 'error', code: 'upstream_error' });
    expect(events.map((event) => event.type).slice(-2)).toEqual(['response.failed', 'error']);
    // The failed response holds the cut message as far as its deltas went.
    const delivered = events
      .map((event) => (event.type === 'response.output_text.delta' ? event.delta : ''))
      .join('');
    expect(delivered).not.toBe('');
    expect(events.at(-2)).toMatchObject({
      response: {
        status: 'failed',
        output: [{ type: 'message', status: 'incomplete', content: [{ text: delivered }] }],
      },
    });
    for (const event of events) expectOpenAISchema('ResponseStreamEvent', event);
  });
});

describe('POST /v1/responses on the mock provider', () => {
  it('answers whole and streamed, as the quickstart config would', async () => {
    const model = 'org/model-with-slash';
    const whole = await gateway.client.responses.create({ model, input: 'Hello!' });
    expectOpenAISchema('Response', whole);
    expect(whole.output_text).not.toBe('');
    const stream = gateway.client.responses.stream({ model, input: 'Hello!' });
    const final = await stream.finalResponse();
    expect(final.output_text).not.toBe('');
    expect(final.usage?.total_tokens).toBeGreaterThan(0);
  });
});
