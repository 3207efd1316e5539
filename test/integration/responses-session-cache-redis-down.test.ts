import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.js';
import { type ConversationCaches, openConversationCache } from '../helpers/cache-stores.js';
import { chatCompletion, FakeUpstream, json, newGate } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { TEST_REDIS } from '../helpers/services.js';
import { CuttableProxy } from '../helpers/tcp-proxy.js';

/**
 * Redis going away under the conversation cache: a response in flight is still stored (in
 * the database only), continuations read the database, and a DELETE that cannot reach the
 * cache says so instead of leaving a continuable entry behind; a retry finishes it.
 */
describe('the conversation cache when Redis goes away', { timeout: 60_000 }, () => {
  const upstream = new FakeUpstream();
  const proxy = new CuttableProxy(TEST_REDIS.host, TEST_REDIS.port);
  let gateway: TestGateway;
  let behind: ConversationCaches;
  /** The same Redis, not through the proxy: what the cache really holds. */
  let direct: ConversationCaches;

  beforeAll(async () => {
    await upstream.start();
    await proxy.start();
    behind = openConversationCache('redis', { url: proxy.url });
    direct = openConversationCache('redis');
    gateway = await startGateway(
      upstreamConfig(upstream.url),
      {},
      { services: { conversations: behind.cache } },
    );
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await behind?.close();
    await direct?.close();
    await proxy.stop();
    await upstream.stop();
  }, 60_000);
  afterEach(() => upstream.reset());

  const answer = (text: string) =>
    upstream.next((_req, res) => json(res, 200, chatCompletion(text)));
  const tenantId = async () => (await gateway.services.tenants.get('test')).id;
  const cacheFailures = () =>
    gateway.logs.filter((line) => line.msg === 'conversation cache call failed').length;
  const continueFrom = (id: string, input = 'Go on.') =>
    gateway.client.responses.create({ model: 'gpt-test', input, previous_response_id: id });

  it('stores and continues from the database while Redis is away', async () => {
    answer('One.');
    const first = await gateway.client.responses.create({ model: 'gpt-test', input: 'Count.' });
    expect(await direct.cache.get(await tenantId(), first.id)).not.toBeNull();
    // A turn whose upstream answer is held until Redis is cut: its storing meets the cut.
    const gate = newGate();
    upstream.next(async (_req, res) => {
      await gate.opened;
      json(res, 200, chatCompletion('Two.'));
    });
    const inFlight = continueFrom(first.id);
    await eventually(() => expect(upstream.requests).toHaveLength(2), 10_000);
    const failuresBefore = cacheFailures();
    let secondId = '';
    await proxy.cut();
    try {
      gate.open();
      const second = await inFlight;
      secondId = second.id;
      expect(second.output_text).toBe('Two.');
      expect(cacheFailures()).toBeGreaterThan(failuresBefore);
      answer('Three.');
      expect((await continueFrom(second.id)).output_text).toBe('Three.');
      expect(upstream.requests.at(-1)?.body?.messages).toEqual([
        { role: 'user', content: 'Count.' },
        { role: 'assistant', content: 'One.' },
        { role: 'user', content: 'Go on.' },
        { role: 'assistant', content: 'Two.' },
        { role: 'user', content: 'Go on.' },
      ]);
    } finally {
      await proxy.restore();
    }
    // The response stored while Redis was away is in the database only, and continues from it.
    expect(await direct.cache.get(await tenantId(), secondId)).toBeNull();
    answer('Four.');
    expect((await continueFrom(secondId)).output_text).toBe('Four.');
  });

  it('refuses a DELETE it cannot finish while Redis is away, and finishes it on a retry', async () => {
    answer('Kept.');
    const kept = await gateway.client.responses.create({ model: 'gpt-test', input: 'Keep.' });
    await proxy.cut();
    try {
      const refused = await apiError(gateway.client.responses.delete(kept.id));
      expect(refused.status).toBe(503);
      expect(refused.code).toBe('service_unavailable');
    } finally {
      await proxy.restore();
    }
    // The row went; the entry stayed, so the retry drops it and says so.
    expect(await direct.cache.get(await tenantId(), kept.id)).not.toBeNull();
    await eventually(() => gateway.client.responses.delete(kept.id), 10_000);
    expect(await direct.cache.get(await tenantId(), kept.id)).toBeNull();
    expect((await apiError(continueFrom(kept.id))).status).toBe(404);
  });
});
