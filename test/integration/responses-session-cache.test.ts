import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { conversationKey } from '../../src/services/responses/redis-conversation-cache.js';
import { apiError } from '../helpers/api-error.js';
import { type ConversationCaches, openConversationCache } from '../helpers/cache-stores.js';
import type { BackendKind } from '../helpers/databases.js';
import { chatCompletion, FakeUpstream, json, sse, textChunks } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import type { StoreKind } from '../helpers/limit-stores.js';

const DAY_MS = 86_400_000;
const CASES: [BackendKind, StoreKind][] = [
  ['postgres', 'redis'],
  ['pglite', 'memory'],
];
/** A month's TTL under a day's retention: each entry's lifetime is the retention's. */
const ENV = { RESPONSES_RETENTION_DAYS: '1', RESPONSES_CACHE_TTL_SECONDS: '2592000' };

/**
 * The conversation cache behind `previous_response_id`, through the API: two instances
 * continue each other's conversations from Redis without reading the row (the row is removed
 * behind the cache's back to prove it), another key or tenant still gets 404, DELETE drops
 * both, and entries live no longer than the retention. The in-process cache runs the same
 * cases on one instance.
 */
describe.each(CASES)(
  'the conversation cache through the API on %s with %s',
  { timeout: 60_000 },
  (database, kind) => {
    const upstream = new FakeUpstream();
    let a: TestGateway;
    let b: TestGateway;
    let cacheA: ConversationCaches;
    let cacheB: ConversationCaches;

    beforeAll(async () => {
      await upstream.start();
      const config = upstreamConfig(upstream.url);
      cacheA = openConversationCache(kind);
      a = await startGateway(config, ENV, { database, services: { conversations: cacheA.cache } });
      // The embedded PGlite is one process's own database: a second instance needs PostgreSQL.
      if (database === 'postgres') {
        cacheB = openConversationCache(kind);
        b = await startGateway(config, ENV, {
          share: a,
          services: { conversations: cacheB.cache },
        });
      } else [b, cacheB] = [a, cacheA];
    }, 90_000);
    afterAll(async () => {
      if (b !== a) await b?.close();
      await a?.close();
      if (cacheB !== cacheA) await cacheB?.close();
      await cacheA?.close();
      await upstream.stop();
    }, 60_000);
    afterEach(() => upstream.reset());

    const answer = (text: string) =>
      upstream.next((_req, res) => json(res, 200, chatCompletion(text)));
    const dropRow = async (id: string) => {
      const db = a.services.tenants.database(await a.services.tenants.get('test'));
      await db.deleteFrom('responses').where('id', '=', id).execute();
    };
    const stateLookups = async (gateway: TestGateway, outcome: string) => {
      const text = await (await fetch(`${gateway.url}/metrics`)).text();
      const line = text
        .split('\n')
        .find(
          (row) =>
            row.startsWith('llm_backend_responses_state_lookups_total{') &&
            row.includes(`outcome="${outcome}"`) &&
            row.includes('tenant="test"'),
        );
      return line === undefined ? 0 : Number(line.split(' ').at(-1));
    };

    it('continues on the other instance from the cache, without the database row', async () => {
      answer('Hi, Ann.');
      upstream.next((_req, res) => sse(res, textChunks(['You are ', 'Ann.'], { usage: true })));
      const first = await a.client.responses.create({ model: 'gpt-test', input: 'I am Ann.' });
      await dropRow(first.id);
      const hits = await stateLookups(b, 'hit');
      const second = await b.client.responses
        .stream({ model: 'gpt-test', input: 'Who am I?', previous_response_id: first.id })
        .finalResponse();
      expect(second.output_text).toBe('You are Ann.');
      expect(upstream.requests[1]?.body?.messages).toEqual([
        { role: 'user', content: 'I am Ann.' },
        { role: 'assistant', content: 'Hi, Ann.' },
        { role: 'user', content: 'Who am I?' },
      ]);
      expect(await stateLookups(b, 'hit')).toBe(hits + 1);
      // The row is gone: reading the response needs it, continuing did not.
      expect((await apiError(b.client.responses.retrieve(first.id))).status).toBe(404);
      // DELETE drops the entry whose row is gone; then it cannot be continued anywhere.
      await b.client.responses.delete(first.id);
      for (const gateway of [a, b]) {
        const gone = await apiError(
          gateway.client.responses.create({
            model: 'gpt-test',
            input: 'Still there?',
            previous_response_id: first.id,
          }),
        );
        expect(gone.status).toBe(404);
        expect(gone.code).toBe('response_not_found');
      }
      expect(upstream.requests).toHaveLength(2);
    });

    it('deletes the row and the cached conversation through the API', async () => {
      answer('Noted.');
      const kept = await a.client.responses.create({ model: 'gpt-test', input: 'Remember me.' });
      expect(await cacheA.cache.get(await tenantId(a), kept.id)).not.toBeNull();
      await a.client.responses.delete(kept.id);
      expect(await cacheA.cache.get(await tenantId(a), kept.id)).toBeNull();
      const continued = await apiError(
        b.client.responses.create({
          model: 'gpt-test',
          input: 'And?',
          previous_response_id: kept.id,
        }),
      );
      expect(continued.status).toBe(404);
      expect((await apiError(b.client.responses.retrieve(kept.id))).status).toBe(404);
      expect((await apiError(b.client.responses.delete(kept.id))).status).toBe(404);
      expect(upstream.requests).toHaveLength(1);
    });

    it("answers 404 for another key's or tenant's cached response, and leaves it cached", async () => {
      answer('Ours.');
      const ours = await a.client.responses.create({ model: 'gpt-test', input: 'Hi' });
      const sibling = await a.services.keys.create('test', {
        name: `sibling-${kind}`,
        role: 'owner',
      });
      const slug = `state-other-${kind}-${Date.now()}`;
      await a.services.tenants.create({ slug, name: slug });
      const stranger = await a.services.keys.create(slug, { name: 'theirs', role: 'owner' });
      for (const gateway of [a, b])
        for (const secret of [sibling.secret, stranger.secret]) {
          const other = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
          const continued = await apiError(
            other.responses.create({
              model: 'gpt-test',
              input: 'Hi',
              previous_response_id: ours.id,
            }),
          );
          expect(continued.status).toBe(404);
          expect(continued.param).toBe('previous_response_id');
          expect((await apiError(other.responses.delete(ours.id))).status).toBe(404);
        }
      expect(await cacheA.cache.get(await tenantId(a), ours.id)).not.toBeNull();
      answer('Still ours.');
      const next = await b.client.responses.create({
        model: 'gpt-test',
        input: 'Again',
        previous_response_id: ours.id,
      });
      expect(next.output_text).toBe('Still ours.');
      expect(upstream.requests).toHaveLength(2);
    });

    it('refuses bad continuations with OpenAI errors and calls no model', async () => {
      for (const id of ['resp_{evil}', `resp_${'x'.repeat(2000)}`, 'resp_}{']) {
        const refused = await apiError(
          a.client.responses.create({ model: 'gpt-test', input: 'Hi', previous_response_id: id }),
        );
        expect(refused.status).toBe(404);
        expect(refused.code).toBe('response_not_found');
      }
      const empty = await apiError(
        a.client.responses.create({ model: 'gpt-test', input: 'Hi', previous_response_id: '' }),
      );
      expect(empty.status).toBe(400);
      expect(upstream.requests).toHaveLength(0);
    });

    it.runIf(kind === 'redis')(
      'gives each entry no longer than the retention to live',
      async () => {
        answer('Short-lived.');
        const brief = await a.client.responses.create({ model: 'gpt-test', input: 'Hi' });
        const ttl = await cacheA.redis?.pttl(conversationKey(await tenantId(a), brief.id));
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(DAY_MS);
      },
    );
  },
);

/** The test tenant's id, which the cache keys entries under. */
async function tenantId(gateway: TestGateway): Promise<string> {
  return (await gateway.services.tenants.get('test')).id;
}
