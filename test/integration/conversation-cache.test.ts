import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationCache } from '../../src/services/responses/conversation-cache.js';
import { conversationKey } from '../../src/services/responses/redis-conversation-cache.js';
import { type ConversationCaches, openConversationCache } from '../helpers/cache-stores.js';
import { CLUSTER_STORE_KINDS, shiftableClock } from '../helpers/limit-stores.js';
import { sharedCluster } from '../helpers/redis-cluster.js';

// The same cases on a real Redis Cluster: keys of one command in two slots fail them.
sharedCluster();

/** The conversation cache's contract, on Redis and in process alike. */
describe.each(CLUSTER_STORE_KINDS)('the conversation cache on %s', (kind) => {
  const clock = shiftableClock();
  let caches: ConversationCaches;
  let cache: ConversationCache;
  // Opened before the tests, once the shared cluster's URL is known.
  beforeAll(() => {
    caches = openConversationCache(kind, { clock: clock.now, budgetBytes: 64 });
    cache = caches.cache;
  });
  afterAll(() => caches.close());
  // A tenant per test: nothing one test stores is seen by another.
  const tenant = () => `tnt_${randomUUID()}`;
  const entry = (value: string, owner = 'key_a') => ({ owner, value });

  it('stores, answers with the owner, replaces, and keeps tenants apart', async () => {
    const [t, other] = [tenant(), tenant()];
    expect(await cache.get(t, 'resp_1')).toBeNull();
    await cache.put(t, 'resp_1', entry('héllo'), 60_000);
    expect(await cache.get(t, 'resp_1')).toEqual(entry('héllo'));
    await cache.put(t, 'resp_1', entry('bye', 'key_b'), 60_000);
    expect(await cache.get(t, 'resp_1')).toEqual(entry('bye', 'key_b'));
    expect(await cache.get(other, 'resp_1')).toBeNull();
  });

  it('drops an entry for its owner only, and says whether it did', async () => {
    const t = tenant();
    await cache.put(t, 'resp_1', entry('mine'), 60_000);
    expect(await cache.delete(t, 'resp_1', 'key_b')).toBe(false);
    expect(await cache.get(t, 'resp_1')).toEqual(entry('mine'));
    expect(await cache.delete(t, 'resp_1', 'key_a')).toBe(true);
    expect(await cache.get(t, 'resp_1')).toBeNull();
    expect(await cache.delete(t, 'resp_1', 'key_a')).toBe(false);
  });

  it('stores nothing for a lifetime of zero or less', async () => {
    const t = tenant();
    await cache.put(t, 'resp_1', entry('x'), 0);
    expect(await cache.get(t, 'resp_1')).toBeNull();
  });

  if (kind === 'memory') {
    it('forgets an entry once its lifetime is over', async () => {
      const t = tenant();
      await cache.put(t, 'short', entry('x'), 10_000);
      await cache.put(t, 'long', entry('y'), 100_000);
      clock.skip(20_000);
      expect(await cache.get(t, 'short')).toBeNull();
      expect(await cache.get(t, 'long')).toEqual(entry('y'));
    });

    it('drops the least recently used entries when the budget is full', async () => {
      const t = tenant();
      for (const id of ['a', 'b', 'c'])
        await cache.put(t, id, entry('0123456789'.repeat(2)), 60_000);
      // Reading `a` makes `b` the least recently used.
      expect(await cache.get(t, 'a')).not.toBeNull();
      await cache.put(t, 'd', entry('0123456789'.repeat(2)), 60_000);
      expect(await cache.get(t, 'b')).toBeNull();
      for (const id of ['a', 'c', 'd']) expect(await cache.get(t, id)).not.toBeNull();
      // Larger than the whole budget: not kept.
      await cache.put(t, 'huge', entry('x'.repeat(65)), 60_000);
      expect(await cache.get(t, 'huge')).toBeNull();
    });
  } else {
    it('keys each entry under a hash tag of its own, with its lifetime set', async () => {
      const t = tenant();
      await cache.put(t, 'resp_1', entry('x'), 60_000);
      const key = conversationKey(t, 'resp_1');
      expect(key).toBe(`llmb:resp:{${t}:resp_1}`);
      const ttl = await caches.redis?.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    });
  }
});
