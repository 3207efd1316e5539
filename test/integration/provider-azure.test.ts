import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureOpenAIProvider } from '../../src/providers/azure-openai/provider.js';
import { UpstreamError } from '../../src/providers/errors.js';
import type {
  AzureOpenAIProviderConfig,
  CallContext,
  JsonObject,
} from '../../src/providers/types.js';
import {
  chatCompletion,
  FakeUpstream,
  json,
  type RecordedRequest,
  sse,
  textChunks,
} from '../helpers/fake-upstream.js';
import { callContext } from '../helpers/provider-calls.js';

const upstream = new FakeUpstream();
let provider: AzureOpenAIProvider;
const API_VERSION = '2024-10-21';

beforeAll(async () => {
  await upstream.start();
  const config: AzureOpenAIProviderConfig = {
    id: 'azure',
    type: 'azure-openai',
    // The resource endpoint: the fake's root, not its /v1.
    baseUrl: upstream.url.replace(/\/v1$/, ''),
    apiKey: 'azure-platform-key',
    tenantKeys: true,
    headers: {},
    maxConnections: 4,
    timeouts: { connectMs: 2000, firstByteMs: 2000, idleMs: 2000 },
    apiVersion: API_VERSION,
  };
  provider = new AzureOpenAIProvider(config);
});
afterAll(async () => {
  await provider.close();
  await upstream.stop();
});

const ctx = (extra: Partial<CallContext> = {}) => callContext('req_azure', extra);

const chat = { model: 'gpt-4o prod', messages: [{ role: 'user', content: 'Hi' }] };

function only(): RecordedRequest {
  expect(upstream.requests).toHaveLength(1);
  return upstream.requests[0] as RecordedRequest;
}

describe('Azure OpenAI provider', () => {
  it('posts to the deployment URL with api-version and api-key, without model in the body', async () => {
    upstream.reset();
    upstream.next((_req, res) => json(res, 200, chatCompletion('Hello from Azure')));
    const completion = await provider.chatCompletion({ ...chat, temperature: 0.5 }, ctx());
    expect(completion).toMatchObject({
      choices: [{ message: { content: 'Hello from Azure' } }],
    });
    const sent = only();
    expect(sent.method).toBe('POST');
    expect(sent.url).toBe(
      `/openai/deployments/gpt-4o%20prod/chat/completions?api-version=${API_VERSION}`,
    );
    expect(sent.headers['api-key']).toBe('azure-platform-key');
    expect(sent.headers.authorization).toBeUndefined();
    expect(sent.body).toEqual({ messages: chat.messages, temperature: 0.5 });
  });

  it('uses the caller’s own key in api-key', async () => {
    upstream.reset();
    upstream.next((_req, res) => json(res, 200, chatCompletion('x')));
    await provider.chatCompletion(chat, ctx({ apiKey: 'tenant-azure-key' }));
    expect(only().headers['api-key']).toBe('tenant-azure-key');
  });

  it('streams OpenAI chunks from the deployment until [DONE]', async () => {
    upstream.reset();
    upstream.next((_req, res) => sse(res, textChunks(['Hel', 'lo'], { usage: true })));
    const stream = await provider.chatCompletionStream(
      { ...chat, stream: true, stream_options: { include_usage: true } },
      ctx(),
    );
    const chunks: JsonObject[] = [];
    for await (const chunk of stream) chunks.push(JSON.parse(chunk) as JsonObject);
    expect(chunks).toHaveLength(5);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 2 } });
    const sent = only();
    expect(sent.url).toContain('/openai/deployments/gpt-4o%20prod/chat/completions?');
    expect(sent.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(sent.body).not.toHaveProperty('model');
  });

  it('a stream cut before [DONE] fails', async () => {
    upstream.reset();
    upstream.next((_req, res) => sse(res, textChunks(['a', 'b']), { noDone: true }));
    const stream = await provider.chatCompletionStream({ ...chat, stream: true }, ctx());
    const consume = async () => {
      for await (const _chunk of stream);
    };
    await expect(consume()).rejects.toMatchObject({ failure: { kind: 'protocol' } });
  });

  it.each([
    ['completion', '/completions', { model: 'dep', prompt: 'x' }],
    ['embeddings', '/embeddings', { model: 'dep', input: 'x' }],
  ] as const)('sends %s to the deployment’s %s', async (method, path, body) => {
    upstream.reset();
    upstream.next((_req, res) => json(res, 200, { object: 'list', data: [] }));
    await provider[method](body, ctx());
    const sent = only();
    expect(sent.url).toBe(`/openai/deployments/dep${path}?api-version=${API_VERSION}`);
    expect(sent.body).not.toHaveProperty('model');
  });

  it('lists the resource’s models for health checks', async () => {
    upstream.reset();
    upstream.next((_req, res) => json(res, 200, { object: 'list', data: [{ id: 'gpt-4o' }] }));
    const list = await provider.listModels(ctx());
    const sent = only();
    expect(sent.method).toBe('GET');
    expect(sent.url).toBe(`/openai/models?api-version=${API_VERSION}`);
    expect(list).toEqual({ object: 'list', data: [{ id: 'gpt-4o' }] });
  });

  it('passes errors through with status, body and retry-after', async () => {
    upstream.reset();
    const body = {
      error: {
        code: '429',
        message: 'Requests to the ChatCompletions_Create Operation have exceeded the rate limit.',
      },
    };
    upstream.next((_req, res) => json(res, 429, body, { 'retry-after': '12' }));
    const error = await provider.chatCompletion(chat, ctx()).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).failure).toEqual({
      kind: 'http',
      status: 429,
      body,
      retryAfter: '12',
    });
  });
});
