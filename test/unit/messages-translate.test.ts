import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { errorRegistry } from '../../src/errors/registry.js';
import { toAnthropicRequest } from '../../src/providers/anthropic/request.js';
import { toChatCompletion } from '../../src/providers/anthropic/response.js';
import type { JsonObject } from '../../src/providers/types.js';
import {
  ANTHROPIC_ERROR_TYPES,
  anthropicErrorBody,
  anthropicErrorOfBody,
} from '../../src/services/messages/errors.js';
import { toChatRequest } from '../../src/services/messages/request.js';
import { stopReason, toAnthropicMessage } from '../../src/services/messages/response.js';
import { toMessageEvents } from '../../src/services/messages/stream.js';
import { anthropicMessageBody } from '../helpers/anthropic-wire.js';

const request = (extra: JsonObject = {}): JsonObject => ({
  model: 'm',
  max_tokens: 50,
  messages: [{ role: 'user', content: 'Hi' }],
  ...extra,
});

async function events(frames: string[]): Promise<{ event: string; data: JsonObject }[]> {
  const out: { event: string; data: JsonObject }[] = [];
  for await (const text of toMessageEvents(frames, { stopSequences: [] })) {
    const [name, data] = text.trimEnd().split('\n');
    out.push({
      event: String(name).replace('event: ', ''),
      data: JSON.parse(String(data).replace('data: ', '')) as JsonObject,
    });
  }
  return out;
}

const frame = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;
const delta = (d: JsonObject, finish: string | null = null) =>
  frame({ id: 'c1', model: 'm', choices: [{ index: 0, delta: d, finish_reason: finish }] });

describe('Anthropic request -> chat request', () => {
  it('comes back to the same Anthropic request through the Anthropic provider', () => {
    const original = request({
      system: 'Be brief.',
      stop_sequences: ['##'],
      temperature: 0.3,
      top_p: 0.8,
      metadata: { user_id: 'u' },
      tools: [{ name: 't', description: 'd', input_schema: { type: 'object' } }],
      tool_choice: { type: 'tool', name: 't' },
      messages: [
        { role: 'user', content: 'Hi' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Calling.' },
            { type: 'tool_use', id: 'tu_1', name: 't', input: { a: 1 } },
          ],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu_1', content: 'r' }] },
      ],
    });
    expect(toAnthropicRequest(toChatRequest(original), { maxTokens: 1 })).toEqual(original);
  });

  it('joins system blocks, marks failed tool results, drops thinking and maps documents', () => {
    const chat = toChatRequest(
      request({
        system: [
          { type: 'text', text: 'One.', cache_control: { type: 'ephemeral' } },
          { type: 'text', text: 'Two.' },
        ],
        thinking: { type: 'enabled', budget_tokens: 1000 },
        top_k: 5,
        output_config: { format: { type: 'json_schema', schema: { type: 'object' } } },
        messages: [
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'hmm', signature: 's' },
              { type: 'text', text: 'Hi' },
            ],
          },
          {
            role: 'user',
            content: [
              {
                type: 'tool_result',
                tool_use_id: 'x',
                is_error: true,
                content: [{ type: 'text', text: 'boom' }],
              },
              {
                type: 'document',
                source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' },
              },
            ],
          },
        ],
      }),
    );
    expect(chat).toEqual({
      model: 'm',
      max_tokens: 50,
      messages: [
        { role: 'system', content: 'One.\n\nTwo.' },
        { role: 'assistant', content: 'Hi' },
        { role: 'tool', tool_call_id: 'x', content: 'Error: boom' },
        {
          role: 'user',
          content: [{ type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE' } }],
        },
      ],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'output', schema: { type: 'object' }, strict: true },
      },
    });
  });

  it('refuses what it cannot translate, naming the field', () => {
    const refused = (body: JsonObject) => {
      try {
        toChatRequest(body);
      } catch (error) {
        if (error instanceof GatewayError) return [error.status, error.param];
      }
      return null;
    };
    expect(refused(request({ container: 'c_1' }))).toEqual([400, 'container']);
    expect(refused(request({ tools: [{ type: 'bash_20250124', name: 'bash' }] }))).toEqual([
      400,
      'tools[0]',
    ]);
    expect(
      refused(request({ tools: [{ name: 't', input_schema: {} }], tool_choice: { type: 'tool' } })),
    ).toEqual([400, 'tool_choice.name']);
    expect(
      refused(request({ messages: [{ role: 'user', content: [{ type: 'image', source: {} }] }] })),
    ).toEqual([400, 'messages[0].content[0].source']);
  });
});

describe('chat answer -> Anthropic message', () => {
  it("is the upstream's message again when an Anthropic upstream answered", () => {
    const original = anthropicMessageBody({
      text: 'Sure.',
      toolUses: [{ id: 'tu_1', name: 't', input: { q: 'x' } }],
      inputTokens: 20,
      cacheReadTokens: 5,
    });
    const usage = null;
    const back = toAnthropicMessage(toChatCompletion(original), usage, []);
    expect(back).toEqual({
      ...original,
      usage: { input_tokens: 20, output_tokens: 7, cache_read_input_tokens: 5 },
    });
  });

  it('maps finish reasons to stop reasons, a matched stop sequence included', () => {
    expect(stopReason('stop', null, [])).toEqual({ stop_reason: 'end_turn', stop_sequence: null });
    expect(stopReason('length', null, []).stop_reason).toBe('max_tokens');
    expect(stopReason('tool_calls', null, []).stop_reason).toBe('tool_use');
    expect(stopReason('function_call', null, []).stop_reason).toBe('tool_use');
    expect(stopReason('content_filter', null, []).stop_reason).toBe('refusal');
    // vLLM says which stop string matched.
    expect(stopReason('stop', '##', ['##'])).toEqual({
      stop_reason: 'stop_sequence',
      stop_sequence: '##',
    });
  });
});

describe('chat frames -> Anthropic stream events', () => {
  it('opens a new block whenever text and tool calls alternate, and ends with the usage', async () => {
    const out = await events([
      delta({ role: 'assistant', content: '' }),
      delta({ content: 'A' }),
      delta({ tool_calls: [{ index: 0, id: 'c_a', function: { name: 'f', arguments: '{}' } }] }),
      delta({ tool_calls: [{ index: 1, id: 'c_b', function: { name: 'g', arguments: '' } }] }),
      delta({ tool_calls: [{ index: 1, function: { arguments: '{"x":1}' } }] }),
      delta({}, 'tool_calls'),
      frame({ id: 'c1', choices: [], usage: { prompt_tokens: 9, completion_tokens: 3 } }),
      'data: [DONE]\n\n',
    ]);
    expect(out.map(({ event, data }) => [event, data.index ?? null])).toEqual([
      ['message_start', null],
      ['ping', null],
      ['content_block_start', 0],
      ['content_block_delta', 0],
      ['content_block_stop', 0],
      ['content_block_start', 1],
      ['content_block_delta', 1],
      ['content_block_stop', 1],
      ['content_block_start', 2],
      ['content_block_delta', 2],
      ['content_block_stop', 2],
      ['message_delta', null],
      ['message_stop', null],
    ]);
    expect(out.at(-2)?.data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { input_tokens: 9, output_tokens: 3, cache_read_input_tokens: 0 },
    });
  });

  it('starts a tool_use block for a call named without an id, giving it one', async () => {
    const out = await events([
      delta({ tool_calls: [{ index: 0, function: { name: 'f', arguments: '{"a":1}' } }] }),
      delta({}, 'tool_calls'),
      'data: [DONE]\n\n',
    ]);
    expect(out[2]?.data).toEqual({
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'tool_use', id: 'toolu_0', name: 'f', input: {} },
    });
    expect(out[3]?.data.delta).toEqual({ type: 'input_json_delta', partial_json: '{"a":1}' });
  });

  it('takes the accounted usage when the chunks carried none', async () => {
    const frames = [delta({ content: 'x' }, 'stop'), 'data: [DONE]\n\n'];
    const usage = async () => ({
      promptTokens: 4,
      completionTokens: 1,
      cachedTokens: 0,
      totalTokens: 5,
      estimated: true,
    });
    const out: string[] = [];
    for await (const text of toMessageEvents(frames, { stopSequences: [], usage })) out.push(text);
    expect(out.find((text) => text.startsWith('event: message_delta'))).toContain(
      '"input_tokens":4,"output_tokens":1',
    );
  });

  it('ends with an error event, and no message_stop, when the stream failed', async () => {
    const out = await events([
      delta({ content: 'x' }),
      frame(new GatewayError('upstream_timeout').toBody()),
    ]);
    expect(out.map((item) => item.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'error',
    ]);
    expect(out.at(-1)?.data).toEqual({
      type: 'error',
      error: { type: 'timeout_error', message: errorRegistry.upstream_timeout.message },
    });
  });

  it('is a whole empty message when the stream had no chunk', async () => {
    const out = await events(['data: [DONE]\n\n']);
    expect(out.map((item) => item.event)).toEqual([
      'message_start',
      'ping',
      'message_delta',
      'message_stop',
    ]);
  });
});

describe('errors in Anthropic shape', () => {
  it('has an Anthropic type for every code of the registry, by its status', () => {
    for (const [code, { status }] of Object.entries(errorRegistry)) {
      const type = ANTHROPIC_ERROR_TYPES[code as keyof typeof errorRegistry];
      if (status === 401) expect(type, code).toBe('authentication_error');
      if (status === 429) expect(type, code).toBe('rate_limit_error');
      if (status >= 500 && status !== 503 && status !== 504) expect(type, code).toBe('api_error');
    }
  });

  it("keeps a passed-through upstream error's status in its type", () => {
    const passed = new GatewayError('invalid_request', { status: 413, message: 'too big' });
    expect(anthropicErrorBody(passed)).toEqual({
      type: 'error',
      error: { type: 'request_too_large', message: 'too big' },
    });
    expect(anthropicErrorOfBody({ error: { message: 'm', code: 'something_else' } })).toEqual({
      type: 'error',
      error: { type: 'api_error', message: 'm' },
    });
  });
});
