import { AIMessage, HumanMessage, SystemMessage, ToolMessage } from '@langchain/core/messages';
import { describe, expect, it } from 'vitest';
import { InvalidRequest } from '../../src/providers/langchain/errors.js';
import { toLangChainMessages } from '../../src/providers/langchain/messages.js';
import {
  bindToolsKwargs,
  readSampling,
  readTools,
  refuseUnsupported,
} from '../../src/providers/langchain/request.js';

describe('OpenAI messages to LangChain messages', () => {
  it('translates system, developer, user, assistant tool calls and tool results', () => {
    const messages = toLangChainMessages([
      { role: 'system', content: 'Be brief.' },
      { role: 'developer', content: [{ type: 'text', text: 'Use tools.' }] },
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
      { role: 'tool', tool_call_id: 'call_1', content: '18C, sunny' },
    ]);
    expect(messages.map((message) => message.type)).toEqual([
      'system',
      'system',
      'human',
      'ai',
      'tool',
    ]);
    expect(messages[0]).toBeInstanceOf(SystemMessage);
    expect(messages[1]?.content).toBe('Use tools.');
    expect(messages[2]).toBeInstanceOf(HumanMessage);
    const ai = messages[3] as AIMessage;
    expect(ai).toBeInstanceOf(AIMessage);
    expect(ai.content).toBe('');
    expect(ai.tool_calls).toEqual([
      { id: 'call_1', name: 'get_weather', args: { city: 'Paris' }, type: 'tool_call' },
    ]);
    const tool = messages[4] as ToolMessage;
    expect(tool).toBeInstanceOf(ToolMessage);
    expect(tool.tool_call_id).toBe('call_1');
    expect(tool.content).toBe('18C, sunny');
    // Gemini answers a call by name: the bridge fills it in from the assistant's call.
    expect(tool.name).toBe('get_weather');
  });

  it('turns text and image_url parts into standard content blocks', () => {
    const [user] = toLangChainMessages([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'low' } },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
        ],
      },
    ]);
    expect(user?.content).toEqual([
      { type: 'text', text: 'What is this?' },
      { type: 'image', url: 'https://example.com/cat.png' },
      { type: 'image', url: 'data:image/png;base64,iVBORw0KGgo=' },
    ]);
  });

  it('refuses what it cannot translate, naming the parameter', () => {
    const bad = (messages: unknown) => {
      try {
        toLangChainMessages(messages);
      } catch (error) {
        return error instanceof InvalidRequest ? error.param : 'not an InvalidRequest';
      }
      return 'accepted';
    };
    expect(bad([])).toBe('messages');
    expect(bad([{ role: 'function', name: 'f', content: 'x' }])).toBe('messages.0');
    expect(bad([{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }])).toBe(
      'messages.0',
    );
    expect(
      bad([
        {
          role: 'assistant',
          tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{oops' } }],
        },
      ]),
    ).toBe('messages.0.tool_calls.0');
    expect(bad([{ role: 'tool', content: 'x' }])).toBe('messages.0');
  });
});

describe('request parameters', () => {
  it('reads sampling parameters, preferring max_completion_tokens', () => {
    expect(
      readSampling({ temperature: 0.2, top_p: 0.9, max_completion_tokens: 50, max_tokens: 9 }),
    ).toEqual({ temperature: 0.2, topP: 0.9, maxTokens: 50 });
    expect(readSampling({ max_tokens: 9, stop: 'END' })).toEqual({ maxTokens: 9, stop: ['END'] });
    expect(readSampling({})).toEqual({});
    expect(() => readSampling({ temperature: 3 })).toThrow(InvalidRequest);
    expect(() => readSampling({ max_tokens: 0 })).toThrow(InvalidRequest);
  });

  it('refuses n>1, logprobs and response formats', () => {
    expect(() => refuseUnsupported({ n: 2 })).toThrow(/n=1/);
    expect(() => refuseUnsupported({ logprobs: true })).toThrow(/logprobs/);
    expect(() => refuseUnsupported({ response_format: { type: 'json_object' } })).toThrow(
      /response_format/,
    );
    expect(() =>
      refuseUnsupported({ n: 1, logprobs: false, response_format: { type: 'text' } }),
    ).not.toThrow();
  });

  it('maps tool_choice and parallel_tool_calls', () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
    expect(readTools({ tools: [] })).toBeNull();
    const required = readTools({ tools, tool_choice: 'required' });
    expect(required?.toolChoice).toBe('any');
    const named = readTools({
      tools,
      tool_choice: { type: 'function', function: { name: 'f' } },
      parallel_tool_calls: false,
    });
    expect(named?.toolChoice).toBe('f');
    if (named === null) throw new Error('expected tools');
    expect(bindToolsKwargs(named, 'anthropic')).toEqual({
      tool_choice: { type: 'tool', name: 'f', disable_parallel_tool_use: true },
    });
    expect(bindToolsKwargs(named, 'openai')).toEqual({
      tool_choice: 'f',
      parallel_tool_calls: false,
    });
    expect(bindToolsKwargs({ ...named, parallelToolCalls: undefined }, 'anthropic')).toEqual({
      tool_choice: 'f',
    });
    expect(() => readTools({ tools: [{ type: 'web_search' }] })).toThrow(InvalidRequest);
  });
});
