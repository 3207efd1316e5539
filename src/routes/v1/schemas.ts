import { type TSchema, Type } from '@sinclair/typebox';

/**
 * Request schemas check what the gateway itself relies on and the types a client most often
 * gets wrong. Every object stays open: fields the gateway does not know go upstream untouched.
 */
const open = { additionalProperties: true } as const;
const nullable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));
const oneOfStrings = (values: string[]) => Type.Unsafe<string>({ type: 'string', enum: values });

const Message = Type.Object(
  {
    role: oneOfStrings(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
    content: nullable(
      Type.Union([Type.String(), Type.Array(Type.Object({ type: Type.String() }, open))]),
    ),
    name: Type.Optional(Type.String()),
  },
  open,
);

const StreamOptions = nullable(Type.Object({ include_usage: Type.Optional(Type.Boolean()) }, open));

const sampling = {
  stream: nullable(Type.Boolean()),
  stream_options: StreamOptions,
  n: nullable(Type.Integer({ minimum: 1, maximum: 128 })),
  temperature: nullable(Type.Number({ minimum: 0, maximum: 2 })),
  top_p: nullable(Type.Number({ minimum: 0, maximum: 1 })),
  max_tokens: nullable(Type.Integer({ minimum: 0 })),
  presence_penalty: nullable(Type.Number({ minimum: -2, maximum: 2 })),
  frequency_penalty: nullable(Type.Number({ minimum: -2, maximum: 2 })),
  seed: nullable(Type.Integer()),
  stop: nullable(Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 4 })])),
  user: Type.Optional(Type.String()),
};

export const ChatCompletionRequest = Type.Object(
  {
    model: Type.String({ minLength: 1, description: 'A model name from GET /v1/models.' }),
    messages: Type.Array(Message, { minItems: 1 }),
    ...sampling,
    max_completion_tokens: nullable(Type.Integer({ minimum: 0 })),
    tools: Type.Optional(Type.Array(Type.Object({ type: Type.String() }, open))),
    tool_choice: Type.Optional(Type.Union([Type.String(), Type.Object({}, open)])),
    parallel_tool_calls: Type.Optional(Type.Boolean()),
    response_format: Type.Optional(Type.Object({ type: Type.String() }, open)),
    logprobs: nullable(Type.Boolean()),
    metadata: nullable(Type.Record(Type.String(), Type.String())),
  },
  { ...open, description: 'OpenAI chat completion request; unknown fields are forwarded.' },
);

const TokenArray = Type.Array(Type.Integer({ minimum: 0 }));

export const CompletionRequest = Type.Object(
  {
    model: Type.String({ minLength: 1 }),
    prompt: Type.Union([
      Type.String(),
      Type.Array(Type.String()),
      TokenArray,
      Type.Array(TokenArray),
    ]),
    ...sampling,
    echo: nullable(Type.Boolean()),
    logprobs: nullable(Type.Integer({ minimum: 0, maximum: 5 })),
    suffix: nullable(Type.String()),
  },
  { ...open, description: 'OpenAI (legacy) completion request; unknown fields are forwarded.' },
);

export const EmbeddingRequest = Type.Object(
  {
    model: Type.String({ minLength: 1 }),
    input: Type.Union([
      Type.String(),
      Type.Array(Type.String(), { minItems: 1 }),
      Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }),
      Type.Array(TokenArray, { minItems: 1 }),
    ]),
    encoding_format: Type.Optional(oneOfStrings(['float', 'base64'])),
    dimensions: Type.Optional(Type.Integer({ minimum: 1 })),
    user: Type.Optional(Type.String()),
  },
  { ...open, description: 'OpenAI embeddings request; unknown fields are forwarded.' },
);

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      message: Type.String(),
      type: Type.String(),
      param: Type.Union([Type.String(), Type.Null()]),
      code: Type.Union([Type.String(), Type.Null()]),
    }),
  },
  { description: "OpenAI's error shape." },
);

export const ModelObject = Type.Object({
  id: Type.String(),
  object: Type.Literal('model'),
  created: Type.Integer(),
  owned_by: Type.String(),
});

export const ModelList = Type.Object({
  object: Type.Literal('list'),
  data: Type.Array(ModelObject),
});

/** Documented responses; inference bodies are the upstream's, in OpenAI's shapes. */
export const inferenceResponses = {
  200: {
    description:
      'The OpenAI response object, or with `stream: true` a text/event-stream of chunks ending in `data: [DONE]`. A request may set `x-llm-backend-strategy` (priority, weighted, least-latency, least-busy, lowest-cost) to route this one request by another strategy, and `x-llm-backend-max-latency-ms` to bound the latency of the model a router such as `auto` picks.',
    type: 'object',
    additionalProperties: true,
    headers: {
      'x-llm-backend-model': {
        type: 'string',
        description: 'The model that served the request (a fallback, or what `auto` chose).',
      },
      'x-llm-backend-deployment': {
        type: 'string',
        description: "The model's deployment that served the request.",
      },
      'x-llm-backend-attempts': {
        type: 'integer',
        description: 'Upstream calls made, the successful one included.',
      },
      'x-llm-backend-cache': {
        type: 'string',
        description:
          "What the response cache did: `hit` (answered from the tenant's cache), `miss` (answered upstream and stored), `bypass` (caching is on but this request skipped it), `dedup`: answered by an identical request in flight, without an upstream call of its own, or `semantic-hit`: answered from the tenant's semantic cache (the request opted in with `x-llm-backend-semantic-cache: on`). Absent when caching is off.",
      },
      'x-llm-backend-cache-similarity': {
        type: 'string',
        description:
          "On a semantic hit: the cosine similarity, 0 to 1 with four decimals, of the request's conversation to the one the answer was stored for.",
      },
      age: {
        type: 'integer',
        description: 'On a cache hit (exact or semantic): seconds since the entry was stored.',
      },
      'x-llm-backend-idempotent-replay': {
        type: 'string',
        description:
          '`true`: the answer of an earlier request with the same `Idempotency-Key`, sent again.',
      },
    },
  },
  '4xx': ErrorResponse,
  '5xx': ErrorResponse,
};
