import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import type { JsonObject } from '../../src/providers/types.js';
import { toChatRequest } from '../../src/services/responses/chat-request.js';
import { chatMessages, inputItems } from '../../src/services/responses/request.js';
import { responseShell, toResponse } from '../../src/services/responses/response.js';
import { toResponseEvents } from '../../src/services/responses/stream.js';
import { expectOpenAISchema } from '../helpers/openai-schema.js';

const body = (extra: JsonObject = {}): JsonObject => ({ model: 'm', input: 'Hi', ...extra });
const chat = (extra: JsonObject = {}) => {
  const request = body(extra);
  return toChatRequest(request, inputItems(request.input));
};

function refusal(run: () => unknown): GatewayError {
  try {
    run();
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('Responses request -> chat request', () => {
  it('joins function calls to the assistant turn before them, results as tool messages', () => {
    const items = inputItems([
      { role: 'developer', content: 'Use tools.' },
      { role: 'user', content: 'Weather in Paris and Rome?' },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Checking.' }] },
      { type: 'function_call', call_id: 'c1', name: 'w', arguments: '{"city":"Paris"}' },
      { type: 'function_call', call_id: 'c2', name: 'w', arguments: '{"city":"Rome"}' },
      { type: 'function_call_output', call_id: 'c1', output: 'sunny' },
      {
        type: 'function_call_output',
        call_id: 'c2',
        output: [{ type: 'input_text', text: 'rain' }],
      },
      { type: 'reasoning', id: 'rs_1', summary: [] },
    ]);
    expect(items.every((item) => typeof item.id === 'string')).toBe(true);
    expect(chatMessages(items)).toEqual([
      { role: 'system', content: 'Use tools.' },
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'w', arguments: '{"city":"Paris"}' } },
          { id: 'c2', type: 'function', function: { name: 'w', arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
      { role: 'tool', tool_call_id: 'c2', content: 'rain' },
    ]);
  });

  it('gives input items the shapes input_items lists, ids included', () => {
    const items = inputItems([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { type: 'function_call', call_id: 'c1', name: 'w', arguments: '{}' },
      { type: 'function_call_output', call_id: 'c1', output: 'ok' },
    ]);
    expectOpenAISchema('ResponseItemList', {
      object: 'list',
      data: items,
      first_id: items[0]?.id,
      last_id: items.at(-1)?.id,
      has_more: false,
    });
  });

  it('maps json_object, reasoning effort, tool_choice strings and streams with usage', () => {
    expect(
      chat({
        text: { format: { type: 'json_object' } },
        reasoning: { effort: 'low' },
        tool_choice: 'required',
        stream: true,
        top_p: 0.5,
        parallel_tool_calls: false,
      }),
    ).toMatchObject({
      response_format: { type: 'json_object' },
      reasoning_effort: 'low',
      tool_choice: 'required',
      stream: true,
      stream_options: { include_usage: true },
      top_p: 0.5,
      parallel_tool_calls: false,
    });
    expect(chat({ text: { format: { type: 'text' } } }).response_format).toBeUndefined();
  });

  it('refuses what a chat upstream cannot do, naming the field', () => {
    const cases: [JsonObject, string][] = [
      [body({ input: 42 }), 'input'],
      [body({ input: [{ type: 'item_reference', id: 'x' }] }), 'input[0].type'],
      [
        body({ input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'f' }] }] }),
        'input[0].content[0]',
      ],
      [body({ input: [{ type: 'function_call_output', output: 'x' }] }), 'input[0].call_id'],
      [body({ background: true }), 'background'],
      [body({ tools: [{ type: 'file_search' }] }), 'tools[0]'],
      [body({ tool_choice: { type: 'web_search' } }), 'tool_choice'],
      [body({ text: { format: { type: 'grammar' } } }), 'text.format'],
    ];
    for (const [request, param] of cases) {
      const error = refusal(() => toChatRequest(request, inputItems(request.input)));
      expect({ code: error.code, param: error.param }).toEqual({ code: 'invalid_request', param });
    }
  });
});

describe('chat completion -> response', () => {
  it('gives reasoning, message and function calls as output items, valid as OpenAI has them', () => {
    const shell = responseShell('resp_1', body({ user: 'u1' }), 1_700_000_000);
    const response = toResponse(
      shell,
      {
        model: 'upstream',
        choices: [
          {
            index: 0,
            finish_reason: 'length',
            message: {
              role: 'assistant',
              content: 'Partly',
              reasoning_content: 'Thinking.',
              tool_calls: [{ id: 'c1', function: { name: 'w', arguments: '{}' } }],
            },
          },
        ],
        usage: {
          prompt_tokens: 10,
          completion_tokens: 5,
          total_tokens: 15,
          completion_tokens_details: { reasoning_tokens: 2 },
        },
      },
      null,
      1_700_000_001,
    );
    expectOpenAISchema('Response', response);
    expect(response).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      completed_at: null,
      model: 'upstream',
      user: 'u1',
      usage: {
        input_tokens: 10,
        output_tokens: 5,
        total_tokens: 15,
        output_tokens_details: { reasoning_tokens: 2 },
      },
    });
    expect((response.output as JsonObject[]).map((item) => item.type)).toEqual([
      'reasoning',
      'message',
      'function_call',
    ]);
  });
});

describe('chat chunks -> response events', () => {
  const frame = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;
  const chunk = (delta: JsonObject, finish: string | null = null) =>
    frame({ id: 'c1', model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] });

  async function run(finished: () => Promise<void>) {
    const events: JsonObject[] = [];
    const frames = [chunk({ content: 'Hi' }), chunk({}, 'stop'), 'data: [DONE]\n\n'];
    const shell = responseShell('resp_1', body(), 1_700_000_000);
    for await (const text of toResponseEvents(frames, { shell, finished, now: () => 1 }))
      events.push(JSON.parse(String(text.split('\n')[1]).slice('data: '.length)) as JsonObject);
    for (const event of events) expectOpenAISchema('ResponseStreamEvent', event);
    return events;
  }

  it('completes once the response is kept', async () => {
    const events = await run(async () => {});
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_e, i) => i));
    expect(events.at(-1)).toMatchObject({
      type: 'response.completed',
      response: { status: 'completed', output: [{ content: [{ text: 'Hi' }] }] },
    });
  });

  it('fails a response it could not keep, with the error event the SDKs raise', async () => {
    const events = await run(async () => {
      throw new Error('database down');
    });
    expect(events.slice(-2).map((event) => event.type)).toEqual(['response.failed', 'error']);
    expect(JSON.stringify(events)).not.toContain('database down');
  });
});
