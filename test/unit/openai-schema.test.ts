import { describe, expect, it } from 'vitest';
import { expectOpenAISchema, openaiSchemaErrors } from '../helpers/openai-schema.js';

const usage = { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };

function chatCompletion(): Record<string, unknown> {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1700000000,
    model: 'gpt-4o-mini',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'hi', refusal: null },
        finish_reason: 'stop',
        logprobs: null,
      },
    ],
    usage,
  };
}

function chatChunk(): Record<string, unknown> {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1700000000,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, delta: { role: 'assistant', content: 'hi' }, finish_reason: null }],
  };
}

const model = { id: 'gpt-4o-mini', object: 'model', created: 1700000000, owned_by: 'openai' };

const validExamples: Record<string, unknown> = {
  CreateChatCompletionResponse: chatCompletion(),
  CreateChatCompletionStreamResponse: chatChunk(),
  CreateCompletionResponse: {
    id: 'cmpl-1',
    object: 'text_completion',
    created: 1700000000,
    model: 'gpt-3.5-turbo-instruct',
    choices: [{ text: 'hi', index: 0, logprobs: null, finish_reason: 'length' }],
    usage,
  },
  CreateEmbeddingResponse: {
    object: 'list',
    model: 'text-embedding-3-small',
    data: [{ object: 'embedding', index: 0, embedding: [0.1, -0.2, 0.3] }],
    usage: { prompt_tokens: 2, total_tokens: 2 },
  },
  ListModelsResponse: { object: 'list', data: [model] },
  Model: model,
  ErrorResponse: {
    error: { message: 'Invalid API key', type: 'invalid_request_error', param: null, code: null },
  },
};

describe('openai schema validator', () => {
  for (const [name, example] of Object.entries(validExamples)) {
    it(`accepts a realistic ${name}`, () => {
      expect(openaiSchemaErrors(name, example)).toEqual([]);
      expect(() => expectOpenAISchema(name, example)).not.toThrow();
    });
  }

  it('rejects a wrong object discriminator value', () => {
    const errors = openaiSchemaErrors('CreateChatCompletionResponse', {
      ...chatCompletion(),
      object: 'chat.completion.chunk',
    });
    expect(errors).toContain(
      '/object must be equal to one of the allowed values ["chat.completion"]',
    );
  });

  it('rejects a missing required property', () => {
    const { choices: _omitted, ...withoutChoices } = chatCompletion();
    expect(openaiSchemaErrors('CreateChatCompletionResponse', withoutChoices)).toEqual([
      "(root) must have required property 'choices'",
    ]);
  });

  it('rejects null where the spec does not allow it', () => {
    expect(
      openaiSchemaErrors('CreateChatCompletionResponse', { ...chatCompletion(), usage: null }),
    ).toContain('/usage must be object');
    expect(openaiSchemaErrors('Model', { ...model, owned_by: null })).toContain(
      '/owned_by must be string',
    );
  });

  it('rejects a wrongly typed nested field', () => {
    const completion = chatCompletion();
    const errors = openaiSchemaErrors('CreateChatCompletionResponse', {
      ...completion,
      choices: [{ index: '0', message: { role: 'user', content: 'hi', refusal: null } }],
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        '/choices/0/index must be integer',
        '/choices/0/message/role must be equal to one of the allowed values ["assistant"]',
        "/choices/0 must have required property 'finish_reason'",
      ]),
    );
  });

  it('accepts null in fields the spec marks as nullable', () => {
    const completion = chatCompletion();
    completion.choices = [
      {
        index: 0,
        message: { role: 'assistant', content: null, refusal: null, tool_calls: [] },
        finish_reason: 'tool_calls',
        logprobs: null,
      },
    ];
    expect(openaiSchemaErrors('CreateChatCompletionResponse', completion)).toEqual([]);
  });

  // These fields still use OpenAPI 3.0 `nullable: true` in the spec, so they only pass
  // because the helper rewrites it (type widening, enum + null, and $ref wrapping).
  it('honours legacy nullable: true after conversion', () => {
    const chunk = {
      ...chatChunk(),
      usage: null,
      choices: [
        {
          index: 0,
          delta: {},
          finish_reason: null,
          logprobs: { content: null, refusal: null },
        },
      ],
    };
    expect(openaiSchemaErrors('CreateChatCompletionStreamResponse', chunk)).toEqual([]);
    expect(
      openaiSchemaErrors('CreateChatCompletionStreamResponse', {
        ...chunk,
        choices: [{ index: 0, delta: {}, finish_reason: 'done' }],
      }),
    ).toContain(
      '/choices/0/finish_reason must be equal to one of the allowed values ' +
        '["stop","length","tool_calls","content_filter","function_call",null]',
    );
  });

  it('expectOpenAISchema throws with the errors and the offending value', () => {
    const { choices: _omitted, ...withoutChoices } = chatCompletion();
    expect(() => expectOpenAISchema('CreateChatCompletionResponse', withoutChoices)).toThrow(
      /CreateChatCompletionResponse[\s\S]*required property 'choices'[\s\S]*"id": "chatcmpl-1"/,
    );
  });

  it('throws for a schema name that is not in components.schemas', () => {
    expect(() => openaiSchemaErrors('NoSuchSchema', {})).toThrow(
      /Unknown OpenAI schema "NoSuchSchema"/,
    );
    expect(() => expectOpenAISchema('NoSuchSchema', {})).toThrow(/NoSuchSchema/);
  });
});
