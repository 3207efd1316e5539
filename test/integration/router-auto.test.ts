import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const gateway = {} as TestGateway;

/** Three models from cheap to dear, each able to do more, and an embedding model. */
function config() {
  return {
    providers: { mock: { type: 'mock' }, slow: { type: 'mock', latency_ms: 80 } },
    models: [
      {
        name: 'big',
        provider: 'mock',
        capabilities: { tools: true, vision: true, json_mode: true, context_window: 128_000 },
        pricing: { input: 5, output: 15 },
      },
      {
        name: 'small',
        provider: 'mock',
        capabilities: { context_window: 200 },
        pricing: { input: 0.1, output: 0.4 },
      },
      {
        name: 'mid',
        provider: 'mock',
        capabilities: { tools: true, json_mode: true, context_window: 8000 },
        pricing: { input: 1, output: 3 },
      },
      {
        name: 'sleepy',
        provider: 'slow',
        capabilities: { context_window: 128_000 },
        pricing: { input: 0.01, output: 0.01 },
      },
      { name: 'vectors', provider: 'mock', capabilities: { chat: false, embeddings: true } },
    ],
    routers: [
      { name: 'auto', models: ['big', 'small', 'mid'] },
      { name: 'quick', models: ['sleepy', 'mid'], max_latency_ms: 40 },
    ],
  };
}

type Params = Omit<OpenAI.ChatCompletionCreateParamsNonStreaming, 'model'>;

async function routedTo(params: Params, model = 'auto', client = gateway.client) {
  const { data, response } = await client.chat.completions
    .create({ model, ...params })
    .withResponse();
  expect(data.object).toBe('chat.completion');
  return response.headers.get('x-llm-backend-model');
}

const hi: Params = { messages: [{ role: 'user', content: 'Hi' }] };
const tool: OpenAI.ChatCompletionTool = {
  type: 'function',
  function: { name: 'lookup', parameters: { type: 'object', properties: {} } },
};

beforeAll(async () => {
  Object.assign(gateway, await startGateway(config()));
});
afterAll(() => gateway.close?.());

describe('model: "auto"', () => {
  it('takes the cheapest model when the request needs nothing special', async () => {
    expect(await routedTo(hi)).toBe('small');
  });

  it('takes the cheapest model that meets each need', async () => {
    expect(await routedTo({ ...hi, tools: [tool] })).toBe('mid');
    expect(await routedTo({ ...hi, response_format: { type: 'json_object' } })).toBe('mid');
    const image: Params = {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
          ],
        },
      ],
    };
    expect(await routedTo(image)).toBe('big');
  });

  it('counts the prompt and max_tokens against each context window', async () => {
    const long = 'word '.repeat(400);
    expect(await routedTo({ messages: [{ role: 'user', content: long }] })).toBe('mid');
    expect(await routedTo({ ...hi, max_tokens: 500 })).toBe('mid');
    expect(await routedTo({ ...hi, max_tokens: 20_000 })).toBe('big');
  });

  it('a request no candidate can take gets a 400 naming the need', async () => {
    const error = await routedTo({ ...hi, max_tokens: 500_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ code: 'no_suitable_model', param: 'model' });
    expect((error as Error).message).toContain('context length');
  });

  it('chooses only among the models the key may use', async () => {
    const { secret } = await gateway.services.keys.create('test', {
      name: 'no-big',
      role: 'member',
      allowedModels: ['small', 'mid'],
    });
    const client = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    expect(await routedTo({ ...hi, tools: [tool] }, 'auto', client)).toBe('mid');
    const image: Params = {
      messages: [
        {
          role: 'user',
          content: [{ type: 'image_url', image_url: { url: 'https://example.com/x.png' } }],
        },
      ],
    };
    const error = await routedTo(image, 'auto', client).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400, code: 'no_suitable_model' });
    // The routers are listed for this key (each has a candidate it may use); `big` is not.
    const ids = (await client.models.list()).data.map((m) => m.id);
    expect(ids).toEqual(['small', 'mid', 'auto', 'quick']);
  });

  it('a key with none of the candidates does not see the router', async () => {
    const { secret } = await gateway.services.keys.create('test', {
      name: 'vectors-only',
      role: 'member',
      allowedModels: ['vectors'],
    });
    const client = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const error = await routedTo(hi, 'auto', client).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((await client.models.list()).data.map((m) => m.id)).toEqual(['vectors']);
  });

  it('a router only serves chat', async () => {
    const error = await gateway.client.embeddings
      .create({ model: 'auto', input: 'x' })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400, code: 'unsupported_model_capability' });
  });

  it('passes over a model slower than the latency bound once it was measured', async () => {
    // Not measured yet: the cheapest, sleepy, is taken, and measured.
    expect(await routedTo(hi, 'quick')).toBe('sleepy');
    expect(await routedTo(hi, 'quick')).toBe('mid');
    // A client may loosen the bound for its request.
    const { response } = await gateway.client.chat.completions
      .create({ model: 'quick', ...hi }, { headers: { 'x-llm-backend-max-latency-ms': '5000' } })
      .withResponse();
    expect(response.headers.get('x-llm-backend-model')).toBe('sleepy');
  });
});
