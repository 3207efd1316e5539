import { type TSchema, Type } from '@sinclair/typebox';
import { CursorListOf } from '../cursor-list.js';
import { ErrorResponse } from './schemas.js';

/**
 * The Responses API's schemas check what the gateway relies on; the item kinds and the rest
 * are checked where they are translated (services/responses), with the offending field's path.
 */
const open = { additionalProperties: true } as const;
const nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));
const Item = Type.Object({ type: Type.Optional(Type.String()) }, open);

export const ResponsesRequest = Type.Object(
  {
    model: Type.String({ minLength: 1, description: 'A model name from GET /v1/models.' }),
    input: Type.Union([Type.String(), Type.Array(Item)], {
      description: 'Text, or input items: messages, function_call and function_call_output.',
    }),
    instructions: nullable(Type.String()),
    previous_response_id: nullable(Type.String({ minLength: 1 })),
    store: nullable(Type.Boolean()),
    stream: nullable(Type.Boolean()),
    tools: Type.Optional(Type.Array(Type.Object({ type: Type.String() }, open))),
    tool_choice: Type.Optional(Type.Union([Type.String(), Type.Object({}, open)])),
    text: nullable(Type.Object({ format: Type.Optional(Type.Object({}, open)) }, open)),
    reasoning: nullable(Type.Object({}, open)),
    max_output_tokens: nullable(Type.Integer({ minimum: 1 })),
    temperature: nullable(Type.Number({ minimum: 0, maximum: 2 })),
    top_p: nullable(Type.Number({ minimum: 0, maximum: 1 })),
    parallel_tool_calls: nullable(Type.Boolean()),
    metadata: nullable(Type.Record(Type.String(), Type.String())),
    user: Type.Optional(Type.String()),
  },
  {
    ...open,
    description:
      "OpenAI's Responses API request, served by any model through translation to a chat completion.",
    examples: [{ model: 'mock-chat', instructions: 'Be brief.', input: 'Hello!' }],
  },
);

export const ResponseIdParams = Type.Object({ id: Type.String({ minLength: 1 }) });

export const InputItemsQuery = Type.Object({
  // Query strings arrive as text and the gateway never coerces types: the number is a pattern.
  limit: Type.Optional(
    Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: '1 to 100, default 20.' }),
  ),
  order: Type.Optional(
    Type.Union([Type.Literal('asc'), Type.Literal('desc')], { description: 'Default desc.' }),
  ),
  after: Type.Optional(Type.String()),
});

const ResponseObject = Type.Object(
  { id: Type.String(), object: Type.Literal('response'), status: Type.String() },
  { ...open, description: "A Responses API `response` (OpenAI's `Response`)." },
);

export const DeletedResponse = Type.Object({
  id: Type.String(),
  object: Type.Literal('response'),
  deleted: Type.Literal(true),
});

export const InputItemList = CursorListOf(
  Type.Object({ id: Type.String(), type: Type.String() }, open),
);

const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse };

export const createResponses = {
  200: {
    description:
      'A `response`, or with `stream: true` a text/event-stream of its typed events (response.created, response.in_progress, response.output_item.added/done, response.content_part.added/done, response.output_text.delta/done, response.function_call_arguments.delta/done, response.reasoning_summary_*, then response.completed or response.incomplete; response.failed and error on failure), each with `sequence_number`. Carries the rate limit and `x-llm-backend-*` headers of /v1/chat/completions.',
    type: 'object',
    additionalProperties: true,
  },
  ...errors,
};

export const getResponses = { 200: ResponseObject, ...errors };
export const deleteResponses = { 200: DeletedResponse, ...errors };
export const inputItemsResponses = { 200: InputItemList, ...errors };
