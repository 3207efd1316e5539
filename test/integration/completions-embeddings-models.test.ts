import { describe, expect, it } from 'vitest';
import { json, sse } from '../helpers/fake-upstream.js';
import { useUpstreamGateway } from '../helpers/gateway.js';
import { expectOpenAISchema } from '../helpers/openai-schema.js';

const { upstream, gateway } = useUpstreamGateway();

const completion = (text: string, finish: string | null = 'stop') => ({
  id: 'cmpl-1',
  object: 'text_completion',
  created: 1_700_000_000,
  model: 'upstream-model',
  choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
});

describe('POST /v1/completions', () => {
  it('returns the upstream completion', async () => {
    upstream.next((_req, res) =>
      json(res, 200, {
        ...completion(' world'),
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      }),
    );
    const result = await gateway.client.completions.create({
      model: 'gpt-test',
      prompt: 'hello',
      max_tokens: 5,
      echo: false,
    });
    expect(result.choices[0]?.text).toBe(' world');
    expectOpenAISchema('CreateCompletionResponse', result);
    expect(upstream.requests[0]?.url).toBe('/v1/completions');
    expect(upstream.requests[0]?.body).toEqual({
      model: 'upstream-model',
      prompt: 'hello',
      max_tokens: 5,
      echo: false,
    });
  });

  it('streams and hides the usage it asked for', async () => {
    upstream.next((_req, res) =>
      sse(res, [
        { ...completion('a', null), usage: null },
        { ...completion('b'), usage: null },
        {
          ...completion(''),
          choices: [],
          usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
        },
      ]),
    );
    const stream = await gateway.client.completions.create({
      model: 'gpt-test',
      prompt: 'x',
      stream: true,
    });
    const parts = [];
    for await (const part of stream) parts.push(part);
    expect(upstream.requests[0]?.body?.stream_options).toEqual({ include_usage: true });
    expect(parts.map((part) => part.choices[0]?.text).join('')).toBe('ab');
    expect(parts).toHaveLength(2);
    expect(parts.every((part) => !('usage' in part))).toBe(true);
  });
});

describe('POST /v1/embeddings', () => {
  it('returns float vectors and maps the model', async () => {
    upstream.next((_req, res) =>
      json(res, 200, {
        object: 'list',
        model: 'upstream-embed',
        data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }],
        usage: { prompt_tokens: 2, total_tokens: 2 },
      }),
    );
    const result = await gateway.client.embeddings.create({
      model: 'embed-test',
      input: 'hello world',
      encoding_format: 'float',
    });
    expect(result.data[0]?.embedding).toEqual([0.1, 0.2, 0.3]);
    expectOpenAISchema('CreateEmbeddingResponse', result);
    expect(upstream.requests[0]?.body).toEqual({
      model: 'upstream-embed',
      input: 'hello world',
      encoding_format: 'float',
    });
  });

  it('passes base64 vectors through for the SDK to decode (its default)', async () => {
    const vector = [0.5, -0.25];
    upstream.next((_req, res) =>
      json(res, 200, {
        object: 'list',
        model: 'upstream-embed',
        data: [
          {
            object: 'embedding',
            index: 0,
            embedding: Buffer.from(new Float32Array(vector).buffer).toString('base64'),
          },
        ],
        usage: { prompt_tokens: 1, total_tokens: 1 },
      }),
    );
    const result = await gateway.client.embeddings.create({ model: 'embed-test', input: ['one'] });
    expect(upstream.requests[0]?.body?.encoding_format).toBe('base64');
    expect(result.data[0]?.embedding).toEqual(vector);
  });
});

describe('GET /v1/models', () => {
  it('lists the configured public models', async () => {
    const list = await gateway.client.models.list();
    const ids = list.data.map((model) => model.id);
    // `auto` is the built-in router over the chat models; it is listed after them.
    expect(ids).toEqual(['gpt-test', 'embed-test', 'org/model-with-slash', 'auto']);
    expect(list.data[0]).toMatchObject({ object: 'model', owned_by: 'upstream' });
    expect(list.data[3]).toMatchObject({ object: 'model', owned_by: 'llm-backend' });
    const raw = await (await gateway.fetch(`/v1/models`)).json();
    expectOpenAISchema('ListModelsResponse', raw);
  });

  it('retrieves one model, slashes in the name included', async () => {
    const model = await gateway.client.models.retrieve('org/model-with-slash');
    expect(model.id).toBe('org/model-with-slash');
    expectOpenAISchema('Model', await (await gateway.fetch(`/v1/models/gpt-test`)).json());
  });

  it('404 model_not_found for an unknown model', async () => {
    const response = await gateway.fetch(`/v1/models/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({
      error: { code: 'model_not_found', param: 'model' },
    });
  });
});
