import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRouting, type Routing } from '../../src/composition/routing.js';
import { loadConfig } from '../../src/config/load.js';
import {
  resolveSemanticCacheSettings,
  type SemanticCacheSettings,
} from '../../src/domain/semantic-cache-settings.js';
import { routingMetrics } from '../../src/observability/metrics/routing.js';
import { mockEmbedding } from '../../src/providers/mock/text.js';
import type { JsonObject } from '../../src/providers/types.js';
import {
  SemanticCache,
  type SemanticLookup,
  type SemanticMiss,
} from '../../src/services/cache/semantic-cache.js';
import { BACKENDS } from '../helpers/databases.js';
import { servicesOn, TEST_MASTER_KEY, type TestServices } from '../helpers/tenant-services.js';

const T0 = new Date('2026-11-02T10:00:00.000Z');
const SETTINGS = resolveSemanticCacheSettings({
  enabled: true,
  threshold: 0.95,
  embeddingModel: 'mock-embedding',
  ttlSeconds: 60,
});
const ANSWER = { id: 'chatcmpl-1', object: 'chat.completion', choices: [{ index: 0 }] };
const USAGE = {
  promptTokens: 9,
  completionTokens: 3,
  cachedTokens: 0,
  totalTokens: 12,
  estimated: false,
};

const chat = (content: string, extra: JsonObject = {}): JsonObject => ({
  model: 'mock-chat',
  messages: [
    { role: 'system', content: 'Answer briefly.' },
    { role: 'user', content },
  ],
  temperature: 0,
  ...extra,
});

/** The mock's embedding of the text the cache embeds for `chat(content)`. */
const similarity = (a: string, b: string) => {
  const embed = (content: string) => mockEmbedding(`system: Answer briefly.\nuser: ${content}`, 16);
  const [x, y] = [embed(a), embed(b)];
  return x.reduce((sum, value, i) => sum + value * (y[i] ?? 0), 0);
};

describe.each(BACKENDS)('semantic cache on %s', (kind) => {
  let services: TestServices;
  let routing: Routing;
  let embeddings = 0;
  let clock = T0;
  let cache: SemanticCache;
  let tenants = 0;

  beforeAll(async () => {
    services = await servicesOn(kind);
    const config = loadConfig({ MASTER_KEY: TEST_MASTER_KEY });
    routing = await buildRouting(config, routingMetrics(new Registry()), pino({ level: 'silent' }));
    cache = new SemanticCache({
      // The real inference path to the mock provider; counted, to see which lookups embed.
      inference: {
        complete: (...args) => {
          if (args[0] === 'embeddings') embeddings += 1;
          return routing.inference.complete(...args);
        },
      },
      catalog: routing.catalog,
      database: async (tenantId) => services.tenants.database(await services.tenants.get(tenantId)),
      now: () => clock,
    });
  }, 90_000);
  afterAll(async () => {
    await routing?.close();
    await services?.close();
  }, 60_000);

  /** A fresh tenant per test: no test sees another's entries. */
  async function tenant(): Promise<string> {
    tenants += 1;
    return (await services.tenants.create({ slug: `s${tenants}`, name: 'S' })).id;
  }

  const lookup = (
    tenantId: string,
    body: JsonObject,
    settings: SemanticCacheSettings = SETTINGS,
    model = 'mock-chat',
  ): Promise<SemanticLookup> =>
    cache.lookup({
      tenantId,
      capability: 'chat',
      model,
      body,
      settings,
      call: { signal: new AbortController().signal, requestId: 'req_test' },
    });

  async function remember(tenantId: string, body: JsonObject): Promise<SemanticMiss> {
    const result = await lookup(tenantId, body);
    expect(result.outcome).toBe('miss');
    const miss = result as SemanticMiss;
    await cache.store(miss.pending, ANSWER, USAGE);
    return miss;
  }

  it('answers a paraphrase with the same words, and accounts the embedding call', async () => {
    const acme = await tenant();
    clock = T0;
    const miss = await remember(acme, chat('What is the capital of France?'));
    expect(miss.embedding).toMatchObject({
      model: 'mock-embedding',
      provider: 'mock',
      usage: { promptTokens: expect.any(Number), estimated: false },
      cost: expect.any(Number),
    });
    expect(miss.embedding.usage.promptTokens).toBeGreaterThan(0);

    const hit = await lookup(acme, chat('what is the capital of France'));
    expect(hit).toMatchObject({
      outcome: 'hit',
      entry: { response: ANSWER, usage: USAGE, model: 'mock-chat' },
      embedding: { model: 'mock-embedding' },
    });
    expect(hit.outcome === 'hit' && hit.similarity).toBeCloseTo(1, 5);
  });

  it('answers an exact repeat without an embedding call', async () => {
    const acme = await tenant();
    clock = T0;
    await remember(acme, chat('Name three llamas.'));
    const before = embeddings;
    const hit = await lookup(acme, chat('Name three llamas.', { stream: true, user: 'u1' }));
    expect(hit).toMatchObject({ outcome: 'hit', similarity: 1, embedding: null });
    expect(embeddings).toBe(before);
  });

  it('respects the threshold: a related question below it is a miss', async () => {
    const acme = await tenant();
    clock = T0;
    await remember(acme, chat('What is the capital of France?'));
    const score = similarity('What is the capital of France?', 'What is the capital of Germany?');
    expect(score).toBeLessThan(0.95);
    expect((await lookup(acme, chat('What is the capital of Germany?'))).outcome).toBe('miss');
    const lenient = { ...SETTINGS, threshold: score - 0.01 };
    const hit = await lookup(acme, chat('What is the capital of Germany?'), lenient);
    expect(hit.outcome).toBe('hit');
    expect(hit.outcome === 'hit' && hit.similarity).toBeCloseTo(score, 4);
  });

  it('serves only the same model and the same other request fields', async () => {
    const acme = await tenant();
    clock = T0;
    await remember(acme, chat('Tell me a joke.'));
    expect((await lookup(acme, chat('Tell me a joke.', { temperature: 0.5 }))).outcome).toBe(
      'miss',
    );
    expect((await lookup(acme, chat('Tell me a joke.', { max_tokens: 5 }))).outcome).toBe('miss');
    expect((await lookup(acme, chat('Tell me a joke.'), SETTINGS, 'other-chat')).outcome).toBe(
      'miss',
    );
  });

  it("never answers one tenant with another's entry, for a byte-identical request", async () => {
    const acme = await tenant();
    const globex = await tenant();
    clock = T0;
    await remember(acme, chat('What is our refund policy?'));
    expect((await lookup(acme, chat('What is our refund policy?'))).outcome).toBe('hit');
    expect((await lookup(globex, chat('What is our refund policy?'))).outcome).toBe('miss');
    expect(await cache.stats(globex)).toEqual({ entries: 0, bytes: 0 });
  });

  it('never returns an expired entry', async () => {
    const acme = await tenant();
    clock = T0;
    await remember(acme, chat('Summarise the news.'));
    clock = new Date(T0.getTime() + 59_000);
    expect((await lookup(acme, chat('Summarise the news.'))).outcome).toBe('hit');
    clock = new Date(T0.getTime() + 60_000);
    expect((await lookup(acme, chat('Summarise the news.'))).outcome).toBe('miss');
    expect((await lookup(acme, chat('summarise THE news'))).outcome).toBe('miss');
  });

  it('keeps at most max_entries, the newest; purges on demand', async () => {
    const acme = await tenant();
    const settings = { ...SETTINGS, maxEntries: 2 };
    for (const [i, text] of ['one', 'two', 'three'].entries()) {
      clock = new Date(T0.getTime() + i * 1000);
      const miss = (await lookup(acme, chat(`Count to ${text}.`), settings)) as SemanticMiss;
      await cache.store(miss.pending, ANSWER, USAGE);
    }
    expect(await cache.stats(acme)).toEqual({
      entries: 2,
      bytes: 2 * Buffer.byteLength(JSON.stringify(ANSWER)),
    });
    expect((await lookup(acme, chat('Count to one.'), settings)).outcome).toBe('miss');
    expect((await lookup(acme, chat('Count to three.'), settings)).outcome).toBe('hit');
    expect(await cache.purge(acme)).toBe(2);
    expect(await cache.stats(acme)).toEqual({ entries: 0, bytes: 0 });
  });

  it('skips what it does not serve, before any embedding or query', async () => {
    const acme = await tenant();
    const before = embeddings;
    const skip = async (body: JsonObject, settings = SETTINGS) => {
      const result = await lookup(acme, body, settings);
      return result.outcome === 'skip' ? result.reason : result.outcome;
    };
    expect(await skip(chat('hi'), { ...SETTINGS, enabled: false })).toBe('disabled');
    const tool = { type: 'function', function: { name: 'lookup', parameters: {} } };
    expect(await skip(chat('hi', { tools: [tool] }))).toBe('tools');
    expect(await skip(chat('hi', { n: 2 }))).toBe('not_chat');
    const image = { type: 'image_url', image_url: { url: 'https://example.test/a.png' } };
    expect(await skip({ model: 'mock-chat', messages: [{ role: 'user', content: [image] }] })).toBe(
      'not_text',
    );
    expect(
      await skip({
        model: 'mock-chat',
        messages: [{ role: 'tool', tool_call_id: 'c', content: 'x' }],
      }),
    ).toBe('not_text');
    expect(await skip(chat('x'.repeat(40_000)))).toBe('too_long');
    const completions = await cache.lookup({
      tenantId: acme,
      capability: 'completions',
      model: 'mock-chat',
      body: { model: 'mock-chat', prompt: 'hi' },
      settings: SETTINGS,
      call: { signal: new AbortController().signal, requestId: 'req_test' },
    });
    expect(completions).toMatchObject({ outcome: 'skip', reason: 'not_chat' });
    expect(embeddings).toBe(before);
    // Text given as content parts is text.
    const parts = { role: 'user', content: [{ type: 'text', text: 'hi there' }] };
    expect(await skip({ model: 'mock-chat', messages: [parts] })).toBe('miss');
  });

  it('rejects bad settings with messages that name the parameter', () => {
    const problem = (input: unknown) => {
      try {
        cache.check(input);
        return null;
      } catch (error) {
        return { ...(error as { code: string; param: string }), message: (error as Error).message };
      }
    };
    expect(problem({ threshold: 1.5 })).toMatchObject({
      code: 'invalid_request',
      param: 'semantic.threshold',
      message: expect.stringContaining('semantic.threshold must be a number from 0 to 1'),
    });
    expect(problem({ treshold: 0.9 })?.message).toContain(
      'semantic.treshold is not a setting of the semantic cache',
    );
    expect(problem({ enabled: true })).toMatchObject({
      param: 'semantic.embedding_model',
      message: expect.stringContaining('required when the semantic cache is enabled'),
    });
    expect(problem({ enabled: true, embedding_model: 'mock-chat' })?.message).toContain(
      "semantic.embedding_model 'mock-chat' cannot embed: The model 'mock-chat' does not support embeddings.",
    );
    expect(problem({ embedding_model: 'nope' })?.message).toContain('does not exist');
    expect(problem({ ttl_seconds: 0, max_entries: 2.5 })?.message).toMatch(
      /semantic\.ttl_seconds must be .* semantic\.max_entries must be/,
    );
    expect(problem('on')?.message).toContain('semantic must be an object');
    expect(
      cache.check({ enabled: true, embedding_model: 'mock-embedding', threshold: 0.9 }),
    ).toEqual({ enabled: true, embeddingModel: 'mock-embedding', threshold: 0.9 });
  });
});
