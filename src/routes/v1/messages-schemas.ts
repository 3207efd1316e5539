import { type TSchema, Type } from '@sinclair/typebox';

/**
 * Anthropic's Messages API request, as far as the gateway checks it: the top level is closed
 * (a field it would silently drop could change the answer, and Anthropic refuses unknown
 * fields too); blocks stay open, their types checked when the request is translated.
 */
const open = { additionalProperties: true } as const;
const oneOfStrings = (values: string[]) => Type.Unsafe<string>({ type: 'string', enum: values });
const nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));

const ContentBlock = Type.Object({ type: Type.String() }, open);

const Message = Type.Object(
  {
    role: oneOfStrings(['user', 'assistant']),
    content: Type.Union([Type.String(), Type.Array(ContentBlock)]),
  },
  { additionalProperties: false },
);

const Tool = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    description: Type.Optional(Type.String()),
    input_schema: Type.Optional(Type.Object({}, open)),
    type: Type.Optional(Type.String()),
  },
  open,
);

const ToolChoice = Type.Object(
  {
    type: oneOfStrings(['auto', 'any', 'tool', 'none']),
    name: Type.Optional(Type.String()),
    disable_parallel_tool_use: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** What /v1/messages and /v1/messages/count_tokens share: the conversation and its tools. */
const conversation = {
  model: Type.String({ minLength: 1, description: 'A model name from GET /v1/models.' }),
  messages: Type.Array(Message, { minItems: 1 }),
  system: Type.Optional(Type.Union([Type.String(), Type.Array(ContentBlock)])),
  tools: Type.Optional(Type.Array(Tool)),
  tool_choice: Type.Optional(ToolChoice),
  thinking: Type.Optional(Type.Object({ type: Type.String() }, open)),
  output_config: Type.Optional(
    Type.Object(
      {
        effort: nullable(Type.String()),
        format: nullable(
          Type.Object({ type: Type.Literal('json_schema'), schema: Type.Object({}, open) }, open),
        ),
      },
      open,
    ),
  ),
  cache_control: nullable(Type.Object({}, open)),
  speed: nullable(Type.String()),
};

export const MessagesRequest = Type.Object(
  {
    ...conversation,
    max_tokens: Type.Integer({ minimum: 1 }),
    stop_sequences: Type.Optional(Type.Array(Type.String())),
    stream: Type.Optional(Type.Boolean()),
    temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    top_p: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    top_k: Type.Optional(Type.Integer({ minimum: 0 })),
    metadata: Type.Optional(Type.Object({ user_id: nullable(Type.String()) }, open)),
    service_tier: Type.Optional(Type.String()),
    container: nullable(Type.Union([Type.String(), Type.Object({}, open)])),
    diagnostics: nullable(Type.Object({}, open)),
    inference_geo: nullable(Type.String()),
  },
  {
    additionalProperties: false,
    description:
      "Anthropic's Messages API request, served by any model through translation to a chat completion.",
    examples: [
      {
        model: 'mock-chat',
        max_tokens: 256,
        system: 'Be brief.',
        messages: [{ role: 'user', content: 'Hello!' }],
      },
    ],
  },
);

export const CountTokensRequest = Type.Object(conversation, {
  additionalProperties: false,
  description: 'The conversation whose input tokens are counted, as /v1/messages takes it.',
  examples: [{ model: 'mock-chat', messages: [{ role: 'user', content: 'Hello!' }] }],
});

export const CountTokensResponse = Type.Object({
  input_tokens: Type.Integer({ description: "The gateway's estimate of the input tokens." }),
});

export const AnthropicErrorResponse = Type.Object(
  {
    type: Type.Literal('error'),
    error: Type.Object({ type: Type.String(), message: Type.String() }),
  },
  { description: "Anthropic's error shape." },
);

export const messagesResponses = {
  200: {
    description:
      'An Anthropic `message`, or with `stream: true` a text/event-stream of its events: message_start, ping, content_block_start / content_block_delta (text_delta, input_json_delta) / content_block_stop, message_delta (stop_reason and usage) and message_stop, or a final `error` event. Carries the rate limit and `x-llm-backend-*` headers of /v1/chat/completions.',
    type: 'object',
    additionalProperties: true,
  },
  '4xx': AnthropicErrorResponse,
  '5xx': AnthropicErrorResponse,
};
