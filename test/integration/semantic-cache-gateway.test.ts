import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import type { Counter } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningWorkers, startUsageWorkers } from '../../src/services/usage/usage-workers.js';
import { apiError } from '../helpers/api-error.js';
import { answerEverything } from '../helpers/cache-gateway.js';
import { BACKENDS } from '../helpers/databases.js';
import { readStream } from '../helpers/dedup.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import type { TestServices } from '../helpers/tenant-services.js';

const OPT_IN = { 'x-llm-backend-semantic-cache': 'on' };
const PRICING = { input: 1, output: 2 };
/** A dollar per embedded token: the embedding's row shows its tokens as its cost. */
const EMBED_PRICING = { input: 1e6, output: 0 };

/**
 * The config of these tests: `gpt-test` (the fake upstream) with the exact cache and the
 * semantic cache on, embedding with the mock provider's bag-of-words `mock-embedding`, whose
 * vectors of the same words in another order are identical (similarity 1).
 */
function semanticConfig(upstreamUrl: string) {
  const config = upstreamConfig(upstreamUrl);
  const [chatModel, ...rest] = config.models as Record<string, unknown>[];
  return {
    ...config,
    models: [
      {
        ...chatModel,
        pricing: PRICING,
        cache: {
          enabled: true,
          semantic: { enabled: true, embedding_model: 'mock-embedding', threshold: 0.95 },
        },
      },
      {
        name: 'mock-embedding',
        provider: 'mock',
        capabilities: { chat: false, embeddings: true },
        pricing: EMBED_PRICING,
      },
      ...rest,
    ],
  };
}

/** Words no other test uses, so nothing stored earlier is similar to them. */
const freshWords = () =>
  Array.from({ length: 4 }, () => `w${randomUUID().replaceAll('-', '').slice(0, 10)}`);

const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'gpt-test',
  temperature: 0,
  messages: [{ role: 'user' as const, content }],
  ...extra,
});

describe.each(BACKENDS)('the semantic cache on the request path on %s', (database) => {
  const upstream = new FakeUpstream();
  let gateway: TestGateway;
  let workers: RunningWorkers;
  let other: OpenAI;

  beforeAll(async () => {
    await upstream.start();
    gateway = await startGateway(semanticConfig(upstream.url), {}, { database });
    workers = startUsageWorkers({
      queue: gateway.services.usageQueue,
      records: gateway.services.usageRecords,
      count: 1,
      log: { warn: () => {}, error: () => {} },
    });
    await gateway.services.tenants.create({ slug: 'other', name: 'Other' });
    const { secret } = await gateway.services.keys.create('other', { name: 'o', role: 'owner' });
    other = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    answerEverything(upstream);
  }, 60_000);
  afterAll(async () => {
    await workers?.stop();
    await gateway?.close();
    await upstream.stop();
  }, 60_000);
  afterEach(() => upstream.reset());

  const chatCalls = () => upstream.requests.filter((req) => req.url.endsWith('/chat/completions'));

  /** Sends a request that misses, and waits for its answer to be stored (off its path). */
  async function storing<T>(send: () => Promise<T>, tenant = 'test'): Promise<T> {
    const db = gateway.services.tenants.database(await gateway.services.tenants.get(tenant));
    const count = async () => {
      const row = await db
        .selectFrom('semantic_cache_entries')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    };
    const before = await count();
    const result = await send();
    await eventually(async () => expect(await count()).toBe(before + 1));
    return result;
  }

  /** The usage rows of one request, once there are `count`. */
  async function rowsOf(requestId: string, count: number, tenant = 'test') {
    const db = gateway.services.tenants.database(await gateway.services.tenants.get(tenant));
    return eventually(async () => {
      const rows = await db
        .selectFrom('usage_records')
        .selectAll()
        .where('request_id', '=', requestId)
        .execute();
      expect(rows).toHaveLength(count);
      return rows;
    });
  }

  it('answers a paraphrase from the semantic cache, with its similarity, and accounts it', async () => {
    const words = freshWords();
    const first = await storing(() =>
      gateway.client.chat.completions
        .create(chat(words.join(' ')), {
          headers: { ...OPT_IN, 'x-request-id': `sem-${words[0]}` },
        })
        .withResponse(),
    );
    expect(first.response.headers.get('x-llm-backend-cache')).toBe('miss');
    const reordered = [...words].reverse().join(' ');
    const hitId = `sem-hit-${words[0]}`;
    const second = await gateway.client.chat.completions
      .create(chat(reordered), { headers: { ...OPT_IN, 'x-request-id': hitId } })
      .withResponse();
    expect(second.response.headers.get('x-llm-backend-cache')).toBe('semantic-hit');
    expect(second.response.headers.get('x-llm-backend-cache-similarity')).toBe('1.0000');
    expect(second.data.choices[0]?.message.content).toBe(first.data.choices[0]?.message.content);
    expect(chatCalls()).toHaveLength(1);

    // The hit: a cache hit saving the upstream's price; the embedding: a row of its own.
    const rows = await rowsOf(hitId, 2);
    const hit = rows.find((row) => row.model === 'gpt-test');
    const embedding = rows.find((row) => row.model === 'mock-embedding');
    expect(hit).toMatchObject({ cache_hit: true, input_tokens: '9', output_tokens: '4' });
    expect(Number(hit?.cost)).toBe(0);
    expect(Number(hit?.saved_cost)).toBeCloseTo((9 * PRICING.input + 4 * PRICING.output) / 1e6);
    expect(embedding).toMatchObject({ cache_hit: false, provider: 'mock' });
    expect(Number(embedding?.input_tokens)).toBeGreaterThan(0);
    expect(Number(embedding?.cost)).toBe(Number(embedding?.input_tokens));
    const { root } = gateway.services as TestServices;
    const metric = root.metrics.getSingleMetric('llm_backend_cache_requests_total') as Counter;
    const hits = (await metric.get()).values.find(
      (value) => value.labels.cache === 'semantic' && value.labels.outcome === 'hit',
    );
    expect(hits?.value).toBeGreaterThanOrEqual(1);
  });

  it('answers a streamed paraphrase as a stream', async () => {
    const words = freshWords();
    const stored = await storing(() =>
      gateway.client.chat.completions.create(chat(words.join(' ')), { headers: OPT_IN }),
    );
    const { data, response } = await gateway.client.chat.completions
      .create(
        { ...chat([...words].reverse().join(' ')), stream: true as const },
        { headers: OPT_IN },
      )
      .withResponse();
    expect(response.headers.get('x-llm-backend-cache')).toBe('semantic-hit');
    expect(response.headers.get('x-llm-backend-cache-similarity')).toBe('1.0000');
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    expect((await readStream(data)).text).toBe(stored.choices[0]?.message.content);
    expect(chatCalls()).toHaveLength(1);
  });

  it('keeps a streamed miss for a later paraphrase', async () => {
    const words = freshWords();
    await storing(async () =>
      readStream(
        await gateway.client.chat.completions.create(
          { ...chat(words.join(' ')), stream: true as const },
          {
            headers: OPT_IN,
          },
        ),
      ),
    );
    const { data, response } = await gateway.client.chat.completions
      .create(chat([...words].reverse().join(' ')), { headers: OPT_IN })
      .withResponse();
    expect(response.headers.get('x-llm-backend-cache')).toBe('semantic-hit');
    expect(data.choices[0]?.message.content).toBe('answer 1');
    expect(chatCalls()).toHaveLength(1);
  });

  it('makes no semantic lookup, and no embedding, for a request that does not opt in', async () => {
    const words = freshWords();
    await storing(() =>
      gateway.client.chat.completions.create(chat(words.join(' ')), { headers: OPT_IN }),
    );
    const id = `sem-none-${words[0]}`;
    const [a, b, c, d] = words;
    for (const [value, order] of [
      [undefined, [d, c, b, a]],
      ['off', [b, a, d, c]],
    ] as const) {
      const headers = {
        'x-request-id': id,
        ...(value && { 'x-llm-backend-semantic-cache': value }),
      };
      const { response } = await gateway.client.chat.completions
        .create(chat(order.join(' ')), { headers })
        .withResponse();
      expect(response.headers.get('x-llm-backend-cache')).toBe('miss');
      expect(response.headers.get('x-llm-backend-cache-similarity')).toBeNull();
    }
    expect(chatCalls()).toHaveLength(3);
    const rows = await rowsOf(id, 2);
    expect(rows.every((row) => row.model === 'gpt-test')).toBe(true);
  });

  it('refuses a bad opt-in value before anything is counted', async () => {
    const refused = await apiError(
      gateway.client.chat.completions.create(chat('hello'), {
        headers: { 'x-llm-backend-semantic-cache': 'yes' },
      }),
    );
    expect(refused.status).toBe(400);
    expect(refused.param).toBe('x-llm-backend-semantic-cache');
    expect(upstream.requests).toHaveLength(0);
  });

  it('misses below the threshold', async () => {
    const [a, b, c, d] = freshWords();
    await gateway.client.chat.completions.create(chat(`${a} ${b} ${c} ${d}`), { headers: OPT_IN });
    const { response } = await gateway.client.chat.completions
      .create(chat(`${a} ${b} other words entirely here`), { headers: OPT_IN })
      .withResponse();
    expect(response.headers.get('x-llm-backend-cache')).toBe('miss');
    expect(chatCalls()).toHaveLength(2);
  });

  it("never answers one tenant with another's entry", async () => {
    const words = freshWords();
    const body = chat(words.join(' '));
    await storing(() => gateway.client.chat.completions.create(body, { headers: OPT_IN }));
    const own = await gateway.client.chat.completions
      .create(chat([...words].reverse().join(' ')), { headers: OPT_IN })
      .withResponse();
    expect(own.response.headers.get('x-llm-backend-cache')).toBe('semantic-hit');
    const { response } = await other.chat.completions
      .create(chat([...words].reverse().join(' ')), { headers: OPT_IN })
      .withResponse();
    expect(response.headers.get('x-llm-backend-cache')).toBe('miss');
    expect(chatCalls()).toHaveLength(2);
  });

  it('counts semantic entries in the cache stats and empties them with a purge', async () => {
    const slug = `sem-${randomUUID().slice(0, 8)}`;
    await gateway.services.tenants.create({ slug, name: 'Purged' });
    const { secret } = await gateway.services.keys.create(slug, { name: 'p', role: 'owner' });
    const client = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const words = freshWords();
    await storing(
      () => client.chat.completions.create(chat(words.join(' ')), { headers: OPT_IN }),
      slug,
    );
    const path = `/admin/v1/tenants/${slug}/cache`;
    const admin = { authorization: `Bearer ${gateway.adminKey}` };
    const stats = async () =>
      (await (await gateway.fetch(`${path}/stats`, { headers: admin })).json()) as Record<
        string,
        number
      >;
    expect(await stats()).toMatchObject({ semantic_entries: 1 });
    expect((await stats()).semantic_bytes).toBeGreaterThan(0);
    const purged = await gateway.fetch(path, { method: 'DELETE', headers: admin });
    expect(purged.status).toBe(200);
    expect(await purged.json()).toMatchObject({ object: 'cache_purge', semantic_entries: 1 });
    expect(await stats()).toMatchObject({ semantic_entries: 0, semantic_bytes: 0 });
    // The paraphrase now goes upstream: nothing is left to answer it.
    const { response } = await client.chat.completions
      .create(chat([...words].reverse().join(' ')), { headers: OPT_IN })
      .withResponse();
    expect(response.headers.get('x-llm-backend-cache')).toBe('miss');
    expect(chatCalls()).toHaveLength(2);
  });

  it("follows the tenant's settings, set and read through the admin API", async () => {
    const slug = `sem-${randomUUID().slice(0, 8)}`;
    await gateway.services.tenants.create({ slug, name: 'Semantic' });
    const path = `/admin/v1/tenants/${slug}/cache`;
    const admin = { authorization: `Bearer ${gateway.adminKey}` };
    const get = async () =>
      (await (await gateway.fetch(path, { headers: admin })).json()) as Record<string, unknown>;
    const put = (body: unknown) =>
      gateway.fetch(path, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...admin },
        body: JSON.stringify(body),
      });
    const semantic = { enabled: false, threshold: 0.9, embedding_model: 'mock-embedding' };
    const written = await put({ semantic });
    expect(written.status).toBe(200);
    expect(((await written.json()) as { semantic: unknown }).semantic).toEqual(semantic);
    expect(await get()).toMatchObject({ semantic, enabled: null });

    for (const [bad, param] of [
      [{ threshold: 2 }, 'semantic.threshold'],
      [{ enabled: true, embedding_model: null }, 'semantic.embedding_model'],
      [{ embedding_model: 'gpt-test' }, 'semantic.embedding_model'],
      [{ max_entries: 0 }, 'semantic.max_entries'],
      [{ surprise: 1 }, 'semantic.surprise'],
      ['on', 'semantic'],
    ] as const) {
      const refused = await put({ semantic: bad });
      expect(refused.status, JSON.stringify(bad)).toBe(400);
      const { error } = (await refused.json()) as { error: { param: string; message: string } };
      expect(error.param, JSON.stringify(bad)).toBe(param);
      expect(error.message).toContain(param);
    }
    expect((await get()).semantic).toEqual(semantic);

    // Off for this tenant, though on for the model: no lookup even with the opt-in.
    const { secret } = await gateway.services.keys.create(slug, { name: 's', role: 'owner' });
    const client = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const words = freshWords();
    await client.chat.completions.create(chat(words.join(' ')), { headers: OPT_IN });
    const again = await client.chat.completions
      .create(chat([...words].reverse().join(' ')), { headers: OPT_IN })
      .withResponse();
    expect(again.response.headers.get('x-llm-backend-cache')).toBe('miss');
    expect(chatCalls()).toHaveLength(2);
  });
});
