import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { requestKey } from '../../src/services/cache/request-key.js';
import { chat, freshQuestion, useCacheGateway } from '../helpers/cache-gateway.js';
import { completionLog } from '../helpers/gateway.js';
import { STORE_KINDS } from '../helpers/limit-stores.js';
import { expectOpenAISchema } from '../helpers/openai-schema.js';

type Chunk = OpenAI.Chat.Completions.ChatCompletionChunk;

/** A non-stream completion with its cache headers. */
async function ask(client: OpenAI, body: ReturnType<typeof chat>, headers = {}) {
  const { data, response } = await client.chat.completions
    .create({ ...body, stream: false }, { headers })
    .withResponse();
  return {
    data,
    requestId: response.headers.get('x-request-id'),
    cache: response.headers.get('x-llm-backend-cache'),
    age: response.headers.get('age'),
  };
}

/** A streamed completion: its chunks (each checked against OpenAI's schema) and headers. */
async function askStreamed(client: OpenAI, body: ReturnType<typeof chat>, includeUsage: boolean) {
  const { data, response } = await client.chat.completions
    .create({
      ...body,
      stream: true,
      ...(includeUsage && { stream_options: { include_usage: true } }),
    })
    .withResponse();
  const chunks: Chunk[] = [];
  for await (const chunk of data) {
    expectOpenAISchema('CreateChatCompletionStreamResponse', chunk);
    chunks.push(chunk);
  }
  const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  const finish = chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0]?.finish_reason;
  const usage = chunks.find((c) => c.usage)?.usage ?? null;
  return { chunks, content, finish, usage, cache: response.headers.get('x-llm-backend-cache') };
}

describe.each(STORE_KINDS)('the response cache on the %s store', (kind) => {
  const { upstream, gateway, stores, clock, other } = useCacheGateway(kind);
  const tenantId = async (slug: string) => (await gateway.services.tenants.get(slug)).id;

  it('answers the second identical request from the cache, once, with its age', async () => {
    const body = chat(freshQuestion());
    const first = await ask(gateway.client, body);
    expect(first.cache).toBe('miss');
    expect(first.age).toBeNull();
    // Key order and an unrelated field (`user`) do not make another entry.
    const reordered = { messages: body.messages, temperature: 0, model: 'gpt-test', user: 'u1' };
    const second = await ask(gateway.client, reordered as ReturnType<typeof chat>);
    expect(second.cache).toBe('hit');
    expect(Number(second.age)).toBeGreaterThanOrEqual(0);
    expect(second.data).toEqual(first.data);
    expectOpenAISchema('CreateChatCompletionResponse', second.data);
    expect(upstream.requests).toHaveLength(1);
    // The request log says which answers came from the cache.
    const line = await completionLog(gateway, second.requestId);
    expect(line).toMatchObject({ cacheHit: true, attempts: 0, model: 'gpt-test' });
  });

  it('keeps a streamed answer whole, and serves it streamed or not', async () => {
    const body = chat(freshQuestion());
    const first = await askStreamed(gateway.client, body, false);
    expect(first.cache).toBe('miss');
    const streamed = await askStreamed(gateway.client, body, true);
    expect(streamed.cache).toBe('hit');
    expect([streamed.content, streamed.finish]).toEqual([first.content, 'stop']);
    expect(streamed.chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    // With include_usage: `usage: null` on every chunk but the last, which has no choices.
    const last = streamed.chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(streamed.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 2 });
    const plain = await ask(gateway.client, body);
    expect(plain.cache).toBe('hit');
    expect(plain.data.choices[0]?.message.content).toBe(first.content);
    expect(plain.data.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 2 });
    expectOpenAISchema('CreateChatCompletionResponse', plain.data);
    expect(upstream.requests).toHaveLength(1);
  });

  it('serves a non-stream entry as a stream, with usage only when asked for', async () => {
    const body = chat(freshQuestion());
    const first = await ask(gateway.client, body);
    const bare = await askStreamed(gateway.client, body, false);
    expect([bare.cache, bare.content]).toEqual(['hit', first.data.choices[0]?.message.content]);
    expect(bare.usage).toBeNull();
    expect(bare.chunks.every((c) => !('usage' in c))).toBe(true);
    const counted = await askStreamed(gateway.client, body, true);
    expect(counted.usage).toEqual(first.data.usage);
    expect(upstream.requests).toHaveLength(1);
  });

  it('keeps tool calls through a stream and back', async () => {
    const toolCall = {
      id: 'call_1',
      type: 'function',
      function: { name: 'lookup', arguments: '{"q":"x"}' },
    };
    upstream.next((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'chatcmpl-tools',
          object: 'chat.completion',
          created: 1_700_000_000,
          model: 'upstream-model',
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: null, refusal: null, tool_calls: [toolCall] },
              logprobs: null,
              finish_reason: 'tool_calls',
            },
          ],
          usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
        }),
      );
    });
    const body = chat(freshQuestion());
    await ask(gateway.client, body);
    const streamed = await askStreamed(gateway.client, body, false);
    expect(streamed.finish).toBe('tool_calls');
    const calls = streamed.chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(calls).toEqual([{ index: 0, ...toolCall }]);
  });

  it('neither reads nor writes with no-store, and refreshes the entry with no-cache', async () => {
    const body = chat(freshQuestion());
    const skipped = await ask(gateway.client, body, { 'cache-control': 'no-store' });
    expect(skipped.cache).toBe('bypass');
    expect((await ask(gateway.client, body)).cache).toBe('miss');
    const refreshed = await ask(gateway.client, body, { 'cache-control': 'no-cache' });
    expect(refreshed.cache).toBe('miss');
    const hit = await ask(gateway.client, body);
    expect(hit.cache).toBe('hit');
    // The refreshed answer replaced the first one.
    expect(hit.data.choices[0]?.message.content).toBe(refreshed.data.choices[0]?.message.content);
    expect(upstream.requests).toHaveLength(3);
  });

  it('keeps an entry for max-age seconds, never past the configured maximum', async () => {
    const short = chat(freshQuestion());
    const long = chat(freshQuestion());
    const capped = chat(freshQuestion());
    await ask(gateway.client, short, { 'cache-control': 'max-age=30' });
    await ask(gateway.client, long);
    await ask(gateway.client, capped, { 'cache-control': 'max-age=999999' });
    clock.skip(60_000);
    expect((await ask(gateway.client, short)).cache).toBe('miss');
    expect((await ask(gateway.client, long)).cache).toBe('hit');
    expect((await ask(gateway.client, capped)).cache).toBe('hit');
    // The model's max_ttl_seconds is 600: the request asked for more and got 600.
    clock.skip(600_000);
    expect((await ask(gateway.client, capped)).cache).toBe('miss');
  });

  it("never answers one tenant with another's entry, even byte for byte", async () => {
    const body = chat(freshQuestion());
    await ask(gateway.client, body);
    const theirs = await ask(other.client, body);
    expect(theirs.cache).toBe('miss');
    expect(upstream.requests).toHaveLength(2);
    expect((await ask(other.client, body)).cache).toBe('hit');
  });

  it('does not cache a request that may answer differently, unless the tenant allows it', async () => {
    const body = { ...chat(freshQuestion()), temperature: 0.7 };
    expect((await ask(gateway.client, body)).cache).toBe('bypass');
    expect((await ask(gateway.client, body)).cache).toBe('bypass');
    await gateway.services.cacheSettings.set('other', {
      enabled: null,
      ttlSeconds: null,
      maxEntryBytes: null,
      budgetBytes: null,
      allowNondeterministic: true,
    });
    try {
      expect((await ask(other.client, body)).cache).toBe('miss');
      expect((await ask(other.client, body)).cache).toBe('hit');
      expect(upstream.requests).toHaveLength(3);
    } finally {
      await gateway.services.cacheSettings.set('other', {
        enabled: null,
        ttlSeconds: null,
        maxEntryBytes: null,
        budgetBytes: null,
        allowNondeterministic: null,
      });
    }
  });

  it('answers but does not store an answer larger than the entry limit', async () => {
    const body = { ...chat(freshQuestion()), model: 'gpt-tiny-entries' };
    const first = await ask(gateway.client, body);
    expect(first.data.choices[0]?.message.content).toMatch(/^answer/);
    expect((await ask(gateway.client, body)).cache).toBe('miss');
    expect(upstream.requests).toHaveLength(2);
  });

  it('treats a damaged entry as a miss and replaces it', async () => {
    const body = chat(freshQuestion());
    const tenant = await tenantId('test');
    const key = requestKey({ tenantId: tenant, capability: 'chat', model: 'gpt-test', body });
    await stores.responses.put(tenant, key, '{"v":1,"body":', { ttlMs: 60_000, budgetBytes: 1e6 });
    expect((await ask(gateway.client, body)).cache).toBe('miss');
    expect((await ask(gateway.client, body)).cache).toBe('hit');
    if (stores.redis !== null) {
      // Not even the store's own framing: written by something else.
      await stores.redis.set(`llmb:cache:{${tenant}}:e:${key}`, 'garbage');
      expect((await ask(gateway.client, body)).cache).toBe('miss');
      expect((await ask(gateway.client, body)).cache).toBe('hit');
    }
  });

  it('keeps legacy completions whole, streamed and not, and serves either shape', async () => {
    const body = { model: 'gpt-test', prompt: freshQuestion(), temperature: 0 };
    const streamed = await gateway.client.completions.create({ ...body, stream: true });
    let first = '';
    for await (const chunk of streamed) first += chunk.choices[0]?.text ?? '';
    const { data, response } = await gateway.client.completions.create(body).withResponse();
    expect(response.headers.get('x-llm-backend-cache')).toBe('hit');
    expectOpenAISchema('CreateCompletionResponse', data);
    expect([data.choices[0]?.text, data.choices[0]?.finish_reason]).toEqual([first, 'length']);
    expect(data.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 2 });
    const again = await gateway.client.completions.create({
      ...body,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    // OpenAI's description has no schema of its own for legacy stream chunks.
    for await (const chunk of again) chunks.push(chunk);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('length');
    expect(chunks.map((c) => c.choices[0]?.text ?? '').join('')).toBe(first);
    expect(chunks.at(-1)?.usage).toMatchObject({ total_tokens: 5 });
    expect(upstream.requests).toHaveLength(1);
  });

  it('caches embeddings', async () => {
    const input = freshQuestion();
    const first = await gateway.client.embeddings
      .create({ model: 'embed-test', input })
      .withResponse();
    const second = await gateway.client.embeddings
      .create({ model: 'embed-test', input })
      .withResponse();
    expect(first.response.headers.get('x-llm-backend-cache')).toBe('miss');
    expect(second.response.headers.get('x-llm-backend-cache')).toBe('hit');
    expect(second.data.data[0]?.embedding).toEqual(first.data.data[0]?.embedding);
    expect(upstream.requests).toHaveLength(1);
  });

  it('says nothing for a model and tenant that do not cache', async () => {
    const body = { ...chat(freshQuestion()), model: 'gpt-plain' };
    expect((await ask(gateway.client, body)).cache).toBeNull();
    expect((await ask(gateway.client, body)).cache).toBeNull();
    expect(upstream.requests).toHaveLength(2);
  });
});
