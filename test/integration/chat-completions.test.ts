import { describe, expect, it } from 'vitest';
import { chatCompletion, chunk, json, sse, textChunks } from '../helpers/fake-upstream.js';
import {
  completionLog,
  eventually,
  TEST_UPSTREAM_KEY,
  useUpstreamGateway,
} from '../helpers/gateway.js';
import { expectOpenAISchema } from '../helpers/openai-schema.js';

const { upstream, gateway } = useUpstreamGateway();

describe('POST /v1/chat/completions', () => {
  it('returns the upstream completion and maps only the model name', async () => {
    upstream.next((_req, res) => json(res, 200, chatCompletion('Hello!')));
    const { data, response } = await gateway.client.chat.completions
      .create({ model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }] })
      .withResponse();

    expect(data.choices[0]?.message.content).toBe('Hello!');
    expect(data.usage?.total_tokens).toBe(13);
    expectOpenAISchema('CreateChatCompletionResponse', data);
    const sent = upstream.requests[0];
    expect(sent?.url).toBe('/v1/chat/completions');
    expect(sent?.body).toEqual({
      model: 'upstream-model',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(sent?.headers.authorization).toBe(`Bearer ${TEST_UPSTREAM_KEY}`);
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
  });

  it('forwards every request field untouched, unknown vendor fields included', async () => {
    upstream.next((_req, res) => json(res, 200, chatCompletion('ok')));
    const fields = {
      tools: [
        {
          type: 'function',
          function: { name: 'f', parameters: { type: 'object', properties: {} } },
        },
      ],
      tool_choice: 'auto',
      response_format: { type: 'json_object' },
      n: 1,
      logprobs: true,
      top_logprobs: 2,
      seed: 42,
      stop: ['\n\n'],
      max_completion_tokens: 77,
      parallel_tool_calls: false,
      user: 'user-1',
      metadata: { team: 'a' },
      temperature: 0.2,
      vendor_specific: { nested: [1, 'two', null] },
    };
    await gateway.client.chat.completions.create({
      model: 'gpt-test',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: [{ type: 'text', text: 'x' }] },
      ],
      ...fields,
    } as Parameters<typeof gateway.client.chat.completions.create>[0]);

    expect(upstream.requests[0]?.body).toEqual({
      model: 'upstream-model',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: [{ type: 'text', text: 'x' }] },
      ],
      ...fields,
    });
  });

  it('returns n choices', async () => {
    upstream.next((_req, res) =>
      json(res, 200, {
        ...chatCompletion('a'),
        choices: [0, 1].map((index) => ({
          index,
          message: { role: 'assistant', content: `answer ${index}`, refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        })),
      }),
    );
    const result = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      n: 2,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(upstream.requests[0]?.body?.n).toBe(2);
    expect(result.choices.map((choice) => choice.message.content)).toEqual([
      'answer 0',
      'answer 1',
    ]);
    expectOpenAISchema('CreateChatCompletionResponse', result);
  });

  it('estimates usage with a tokenizer when the upstream reports none', async () => {
    const { usage: _none, ...withoutUsage } = chatCompletion('one two three');
    upstream.next((_req, res) => json(res, 200, withoutUsage));
    const { response } = await gateway.client.chat.completions
      .create({
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'Count these words please' }],
      })
      .withResponse();
    const log = await completionLog(gateway, response.headers.get('x-request-id') ?? '');
    expect(log.tokens).toMatchObject({ estimated: true, completion: 3 });
    expect((log.tokens as { prompt: number }).prompt).toBeGreaterThan(4);
  });
});

describe('POST /v1/chat/completions with stream: true', () => {
  it('relays chunks and [DONE], asks upstream for usage, hides it from a client that did not ask', async () => {
    upstream.next((_req, res) => sse(res, textChunks(['Hel', 'lo', '!'], { usage: true })));
    const stream = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      stream: true,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const chunks = [];
    for await (const part of stream) chunks.push(part);

    expect(upstream.requests[0]?.body?.stream_options).toEqual({ include_usage: true });
    expect(chunks.map((part) => part.choices[0]?.delta.content ?? '').join('')).toBe('Hello!');
    expect(chunks.every((part) => part.choices.length === 1 && !('usage' in part))).toBe(true);
    for (const part of chunks) expectOpenAISchema('CreateChatCompletionStreamResponse', part);
    const log = await completionLog(gateway, gateway.logs.at(-1)?.requestId as string);
    expect(log).toMatchObject({
      stream: true,
      tokens: { prompt: 7, completion: 3, estimated: false },
    });
  });

  it('passes the usage chunk to a client that asked for it', async () => {
    upstream.next((_req, res) => sse(res, textChunks(['a', 'b'], { usage: true })));
    const stream = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const chunks = [];
    for await (const part of stream) chunks.push(part);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual({ prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 });
    expect(chunks.slice(0, -1).every((part) => part.usage === null)).toBe(true);
    for (const part of chunks) expectOpenAISchema('CreateChatCompletionStreamResponse', part);
  });

  it('writes exactly the SSE framing OpenAI does', async () => {
    upstream.next((_req, res) => sse(res, textChunks(['x'], { usage: true })));
    const response = await gateway.fetch(`/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-test',
        stream: true,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await response.text();
    const events = text.split('\n\n').filter(Boolean);
    expect(events.every((event) => event.startsWith('data: '))).toBe(true);
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(events).toHaveLength(4);
  });

  it('assembles streamed tool calls with the SDK stream helper', async () => {
    const call = (args: string, first = false) =>
      chunk({
        tool_calls: [
          {
            index: 0,
            ...(first && { id: 'call_1', type: 'function' }),
            function: { ...(first && { name: 'get_weather' }), arguments: args },
          },
        ],
        ...(first && { role: 'assistant', content: null }),
      });
    upstream.next((_req, res) =>
      sse(res, [
        call('', true),
        call('{"city":'),
        call('"Paris"}'),
        {
          ...chunk({}),
          choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' }],
        },
      ]),
    );
    const runner = gateway.client.chat.completions.stream({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
          },
        },
      ],
    });
    const final = await runner.finalChatCompletion();
    const toolCall = final.choices[0]?.message.tool_calls?.[0];
    expect(toolCall).toMatchObject({
      id: 'call_1',
      type: 'function',
      function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
    });
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('streams n: 2 choices interleaved', async () => {
    upstream.next((_req, res) => {
      const zero = textChunks(['zero'], { index: 0 });
      const one = textChunks(['one'], { index: 1 });
      return sse(
        res,
        zero.flatMap((event, i) => [event, one[i]]),
      );
    });
    const stream = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      n: 2,
      stream: true,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const texts = ['', ''];
    for await (const part of stream) {
      for (const choice of part.choices) texts[choice.index] += choice.delta.content ?? '';
    }
    expect(texts).toEqual(['zero', 'one']);
  });

  it('estimates usage for a stream when the upstream sends none', async () => {
    upstream.next((_req, res) => sse(res, textChunks(['alpha', ' beta', ' gamma'])));
    const stream = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      stream: true,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    let text = '';
    for await (const part of stream) text += part.choices[0]?.delta.content ?? '';
    expect(text).toBe('alpha beta gamma');
    const log = await eventually(() => {
      const line = gateway.logs.findLast(
        (entry) => entry.msg === 'request completed' && entry.stream === true,
      );
      if (!(line?.tokens as { estimated?: boolean } | undefined)?.estimated)
        throw new Error('no estimated log line yet');
      return line;
    });
    expect(log?.tokens).toMatchObject({ completion: 3, estimated: true });
  });
});
