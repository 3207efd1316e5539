import { AIMessage, AIMessageChunk } from '@langchain/core/messages';
import { describe, expect, it } from 'vitest';
import {
  emptyContentReply,
  finishReason,
  toChatCompletion,
} from '../../src/providers/langchain/output.js';
import { ChunkTranslator, TruncatedReplyError } from '../../src/providers/langchain/stream.js';

const identity = { id: 'chatcmpl-req1', created: 1_700_000_000, model: 'claude-test' };

describe('AIMessage to chat.completion', () => {
  it('translates text, finish reason and usage with cached tokens', () => {
    const message = new AIMessage({
      content: 'Hello there',
      response_metadata: { stop_reason: 'end_turn', model_provider: 'anthropic' },
      usage_metadata: {
        input_tokens: 30,
        output_tokens: 5,
        total_tokens: 35,
        input_token_details: { cache_read: 20, cache_creation: 0 },
      },
    });
    expect(toChatCompletion(message, identity)).toEqual({
      ...identity,
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello there', refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: 30,
        completion_tokens: 5,
        total_tokens: 35,
        prompt_tokens_details: { cached_tokens: 20 },
      },
    });
  });

  it('translates tool calls from block content, with null content when there is no text', () => {
    const message = new AIMessage({
      content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }],
      tool_calls: [{ id: 'toolu_1', name: 'get_weather', args: { city: 'Paris' } }],
      response_metadata: { stop_reason: 'tool_use' },
    });
    const completion = toChatCompletion(message, identity);
    const [choice] = completion.choices as Record<string, unknown>[];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message).toEqual({
      role: 'assistant',
      content: null,
      refusal: null,
      tool_calls: [
        {
          id: 'toolu_1',
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
        },
      ],
    });
    expect(completion.usage).toBeUndefined();
  });

  it('keeps text blocks and drops thinking blocks', () => {
    const message = new AIMessage({
      content: [
        { type: 'thinking', thinking: 'hmm', signature: 'sig' },
        { type: 'text', text: 'Answer: ' },
        { type: 'text', text: '42' },
      ],
      response_metadata: { finishReason: 'MAX_TOKENS' },
    });
    const [choice] = toChatCompletion(message, identity).choices as {
      message: { content: unknown };
      finish_reason: string;
    }[];
    expect(choice?.message.content).toBe('Answer: 42');
    expect(choice?.finish_reason).toBe('length');
  });

  it("answers Gemini's EmptyContentError as an empty, filtered reply", () => {
    const blocked = Object.assign(new Error('The model returned no content.'), {
      name: 'EmptyContentError',
      blockReason: 'PROHIBITED_CONTENT',
    });
    const reply = emptyContentReply(blocked);
    expect(reply).not.toBeNull();
    const [choice] = toChatCompletion(reply ?? { content: '' }, identity).choices as {
      message: { content: unknown };
      finish_reason: string;
    }[];
    expect(choice).toMatchObject({ message: { content: '' }, finish_reason: 'content_filter' });
    const spent = Object.assign(new Error('no content'), {
      name: 'EmptyContentError',
      finishReason: 'MAX_TOKENS',
    });
    expect(emptyContentReply(spent)?.response_metadata).toEqual({ finishReason: 'MAX_TOKENS' });
    expect(emptyContentReply(new Error('other'))).toBeNull();
  });

  it('maps finish reasons of Anthropic, Gemini and Bedrock', () => {
    expect(finishReason('end_turn', false)).toBe('stop');
    expect(finishReason('max_tokens', false)).toBe('length');
    expect(finishReason('tool_use', true)).toBe('tool_calls');
    expect(finishReason('STOP', false)).toBe('stop');
    expect(finishReason('STOP', true)).toBe('tool_calls');
    expect(finishReason('MAX_TOKENS', true)).toBe('length');
    expect(finishReason('SAFETY', false)).toBe('content_filter');
    expect(finishReason('guardrail_intervened', false)).toBe('content_filter');
    expect(finishReason('something_new', false)).toBe('stop');
    expect(finishReason(null, false)).toBe('stop');
  });
});

const parse = (frames: string[]) => frames.map((frame) => JSON.parse(frame));

describe('AIMessageChunks to chat.completion.chunk', () => {
  it('streams role, text, finish and usage, with the same id on every chunk', () => {
    const translator = new ChunkTranslator({
      ...identity,
      includeUsage: true,
      cumulativeOutput: true,
      requireFinishReason: true,
    });
    const frames = parse([
      ...translator.push(
        new AIMessageChunk({
          content: '',
          usage_metadata: {
            input_tokens: 12,
            output_tokens: 1,
            total_tokens: 13,
            input_token_details: { cache_read: 4 },
          },
        }),
      ),
      ...translator.push(new AIMessageChunk({ content: 'Hel' })),
      ...translator.push(new AIMessageChunk({ content: 'lo' })),
      ...translator.push(
        new AIMessageChunk({
          content: '',
          additional_kwargs: { stop_reason: 'end_turn' },
          usage_metadata: { input_tokens: 0, output_tokens: 7, total_tokens: 7 },
        }),
      ),
      ...translator.finish(),
    ]);
    expect(new Set(frames.map((frame) => frame.id))).toEqual(new Set(['chatcmpl-req1']));
    expect(frames.every((frame) => frame.created === identity.created)).toBe(true);
    expect(frames.map((frame) => frame.choices[0]?.delta ?? null)).toEqual([
      { role: 'assistant', content: '' },
      { content: 'Hel' },
      { content: 'lo' },
      {},
      null,
    ]);
    expect(frames.at(-2).choices[0].finish_reason).toBe('stop');
    expect(frames.at(-1)).toEqual({
      ...identity,
      object: 'chat.completion.chunk',
      choices: [],
      // Anthropic's output count is a running total: 7, not 1 + 7.
      usage: {
        prompt_tokens: 12,
        completion_tokens: 7,
        total_tokens: 19,
        prompt_tokens_details: { cached_tokens: 4 },
      },
    });
  });

  it('gives each tool call a stable index, id and name first, argument pieces after', () => {
    const translator = new ChunkTranslator({
      ...identity,
      includeUsage: false,
      cumulativeOutput: false,
      requireFinishReason: false,
    });
    const frames = parse([
      ...translator.push(
        new AIMessageChunk({
          content: '',
          tool_call_chunks: [{ id: 'toolu_a', name: 'f', args: '', index: 1 }],
        }),
      ),
      ...translator.push(
        new AIMessageChunk({ content: '', tool_call_chunks: [{ args: '{"x":', index: 1 }] }),
      ),
      ...translator.push(
        new AIMessageChunk({
          content: '',
          tool_call_chunks: [{ id: 'toolu_b', name: 'g', args: '', index: 2 }],
        }),
      ),
      ...translator.push(
        new AIMessageChunk({ content: '', tool_call_chunks: [{ args: '1}', index: 1 }] }),
      ),
      ...translator.finish(),
    ]);
    const toolDeltas = frames.flatMap((frame) => frame.choices[0]?.delta.tool_calls ?? []);
    expect(toolDeltas).toEqual([
      { index: 0, id: 'toolu_a', type: 'function', function: { name: 'f', arguments: '' } },
      { index: 0, function: { arguments: '{"x":' } },
      { index: 1, id: 'toolu_b', type: 'function', function: { name: 'g', arguments: '' } },
      { index: 0, function: { arguments: '1}' } },
    ]);
    expect(frames.at(-1).choices[0].finish_reason).toBe('tool_calls');
    expect(frames.every((frame) => !('usage' in frame))).toBe(true);
  });

  it('refuses to finish a stream that never said why it ended, when it always should', () => {
    const options = { ...identity, includeUsage: false, cumulativeOutput: true };
    const strict = new ChunkTranslator({ ...options, requireFinishReason: true });
    strict.push(new AIMessageChunk({ content: 'Hel' }));
    expect(() => strict.finish()).toThrow(TruncatedReplyError);
    const lenient = new ChunkTranslator({ ...options, requireFinishReason: false });
    lenient.push(new AIMessageChunk({ content: 'Hel' }));
    expect(JSON.parse(lenient.finish()[0] ?? '{}').choices[0].finish_reason).toBe('stop');
  });

  it('handles Gemini-style whole tool calls without an index', () => {
    const translator = new ChunkTranslator({
      ...identity,
      includeUsage: false,
      cumulativeOutput: false,
      requireFinishReason: false,
    });
    const frames = parse([
      ...translator.push(
        new AIMessageChunk({
          content: '',
          tool_call_chunks: [
            { id: 'uuid-1', name: 'f', args: '{"a":1}' },
            { id: 'uuid-2', name: 'g', args: '{}' },
          ],
          response_metadata: { finishReason: 'STOP' },
        }),
      ),
      ...translator.finish(),
    ]);
    expect(
      frames[1].choices[0].delta.tool_calls.map((call: { index: number }) => call.index),
    ).toEqual([0, 1]);
    expect(frames.at(-1).choices[0].finish_reason).toBe('tool_calls');
  });
});
