import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerEverything, cacheConfig, chat, freshQuestion } from '../helpers/cache-gateway.js';
import { openCacheStores } from '../helpers/cache-stores.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { TEST_REDIS } from '../helpers/services.js';
import { CuttableProxy } from '../helpers/tcp-proxy.js';

describe('the response cache when Redis goes away', () => {
  const upstream = new FakeUpstream();
  const proxy = new CuttableProxy(TEST_REDIS.host, TEST_REDIS.port);
  let gateway: TestGateway;
  let stores: ReturnType<typeof openCacheStores>;

  beforeAll(async () => {
    await upstream.start();
    answerEverything(upstream);
    await proxy.start();
    stores = openCacheStores('redis', { url: proxy.url });
    gateway = await startGateway(
      cacheConfig(upstream.url),
      {},
      { services: { responses: stores.responses, idempotency: stores.idempotency } },
    );
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await stores?.close();
    await proxy.stop();
    await upstream.stop();
  }, 60_000);

  it('answers without the cache, and without an error, while Redis is away', async () => {
    const body = chat(freshQuestion());
    const header = async (extra: Record<string, unknown> = {}, headers = {}) => {
      const { response } = await gateway.client.chat.completions
        .create({ ...body, ...extra }, { headers })
        .withResponse();
      return response.headers.get('x-llm-backend-cache');
    };
    expect(await header()).toBe('miss');
    expect(await header()).toBe('hit');
    await proxy.cut();
    try {
      expect(await header()).toBe('bypass');
      const stream = await gateway.client.chat.completions.create({ ...body, stream: true });
      let content = '';
      for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? '';
      expect(content).toMatch(/^answer/);
      // An Idempotency-Key cannot be kept either: the request runs anyway.
      expect(await header({}, { 'idempotency-key': 'while-away' })).toBe('bypass');
      expect(upstream.requests).toHaveLength(4);
    } finally {
      await proxy.restore();
    }
  });

  it('deletes a tenant while Redis is away, and says its cache was not emptied', async () => {
    const slug = `away-${Date.now()}`;
    const tenant = await gateway.services.tenants.create({ slug, name: 'Away' });
    await proxy.cut();
    try {
      const deleted = await gateway.services.tenants.delete(slug);
      expect(deleted.status).toBe('deleting');
    } finally {
      await proxy.restore();
    }
    const warned = gateway.logs.filter(
      (line) => line.tenantId === tenant.id && String(line.msg).includes('not emptied'),
    );
    expect(warned).toHaveLength(1);
  });
});
