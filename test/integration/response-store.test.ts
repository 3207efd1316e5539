import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdempotencyStore, ResponseStore } from '../../src/services/cache/store.js';
import { type CacheStores, openCacheStores } from '../helpers/cache-stores.js';
import { CLUSTER_STORE_KINDS, shiftableClock } from '../helpers/limit-stores.js';
import { sharedCluster } from '../helpers/redis-cluster.js';

// The same cases on a real Redis Cluster: a script that reaches a key it was not given, or
// keys in two slots, fails them.
sharedCluster();

const BIG = { ttlMs: 60_000, budgetBytes: 1_000_000 };

describe.each(CLUSTER_STORE_KINDS)('the response store on %s', (kind) => {
  const clock = shiftableClock();
  let stores: CacheStores;
  let store: ResponseStore;
  // Opened before the tests, once the shared cluster's URL is known.
  beforeAll(() => {
    stores = openCacheStores(kind, { clock: clock.now });
    store = stores.responses;
  });
  afterAll(() => stores.close());
  // A tenant per test: nothing one test stores is seen by another.
  const tenant = () => `tnt_${randomUUID()}`;

  it('stores, answers with the time stored, replaces, and counts bytes and entries', async () => {
    const t = tenant();
    expect(await store.get(t, 'k1')).toBeNull();
    const before = clock.now();
    expect(await store.put(t, 'k1', 'héllo', BIG)).toBe(true);
    const got = await store.get(t, 'k1');
    expect(got?.value).toBe('héllo');
    expect(got?.storedAt).toBeGreaterThanOrEqual(before);
    await store.put(t, 'k1', 'bye', BIG);
    expect((await store.get(t, 'k1'))?.value).toBe('bye');
    await store.put(t, 'k2', 'value:with:colons', BIG);
    expect((await store.get(t, 'k2'))?.value).toBe('value:with:colons');
    expect(await store.stats(t)).toMatchObject({ entries: 2, bytes: 3 + 17 });
  });

  it('keeps tenants apart', async () => {
    const [a, b] = [tenant(), tenant()];
    await store.put(a, 'same', 'of a', BIG);
    expect(await store.get(b, 'same')).toBeNull();
    expect((await store.stats(b)).entries).toBe(0);
  });

  it('forgets an entry once its lifetime is over', async () => {
    const t = tenant();
    await store.put(t, 'short', 'x', { ttlMs: 10_000, budgetBytes: 100 });
    await store.put(t, 'long', 'y', { ttlMs: 100_000, budgetBytes: 100 });
    clock.skip(20_000);
    expect(await store.get(t, 'short')).toBeNull();
    expect((await store.get(t, 'long'))?.value).toBe('y');
    expect(await store.stats(t)).toMatchObject({ entries: 1, bytes: 1 });
  });

  it('evicts the oldest entries when a store would pass the budget', async () => {
    const t = tenant();
    const budget = { ttlMs: 60_000, budgetBytes: 30 };
    for (const key of ['a', 'b', 'c']) {
      await store.put(t, key, '0123456789', budget);
      clock.skip(1);
    }
    await store.put(t, 'd', '0123456789', budget);
    expect(await store.get(t, 'a')).toBeNull();
    for (const key of ['b', 'c', 'd']) expect(await store.get(t, key)).not.toBeNull();
    expect(await store.stats(t)).toMatchObject({ entries: 3, bytes: 30 });
  });

  it('does not store an entry larger than the whole budget, and keeps the others', async () => {
    const t = tenant();
    await store.put(t, 'small', 'x', { ttlMs: 60_000, budgetBytes: 5 });
    expect(await store.put(t, 'huge', '0123456789', { ttlMs: 60_000, budgetBytes: 5 })).toBe(false);
    expect(await store.get(t, 'huge')).toBeNull();
    expect((await store.get(t, 'small'))?.value).toBe('x');
  });

  it('counts hits and misses, and a purge empties the tenant and its counters', async () => {
    const [t, other] = [tenant(), tenant()];
    await store.put(t, 'a', 'x', BIG);
    await store.put(t, 'b', 'y', BIG);
    await store.put(other, 'a', 'z', BIG);
    await store.count(t, 'hit');
    await store.count(t, 'miss');
    await store.count(t, 'miss');
    expect(await store.stats(t)).toEqual({ entries: 2, bytes: 2, hits: 1, misses: 2 });
    expect(await store.purge(t)).toBe(2);
    expect(await store.stats(t)).toEqual({ entries: 0, bytes: 0, hits: 0, misses: 0 });
    expect(await store.get(t, 'a')).toBeNull();
    expect((await store.get(other, 'a'))?.value).toBe('z');
  });
});

describe.each(CLUSTER_STORE_KINDS)('the idempotency store on %s', (kind) => {
  const clock = shiftableClock();
  let stores: CacheStores;
  let store: IdempotencyStore;
  // Opened before the tests, once the shared cluster's URL is known.
  beforeAll(() => {
    stores = openCacheStores(kind, { clock: clock.now });
    store = stores.idempotency;
  });
  afterAll(() => stores.close());

  it('claims a key once, gives what is there to the next, and frees it on release', async () => {
    const t = `tnt_${randomUUID()}`;
    expect(await store.claim(t, 'key', 'pending', 60_000)).toBeNull();
    expect(await store.claim(t, 'key', 'other', 60_000)).toBe('pending');
    await store.set(t, 'key', 'answer', 60_000);
    expect(await store.claim(t, 'key', 'other', 60_000)).toBe('answer');
    expect(await store.claim(`tnt_${randomUUID()}`, 'key', 'mine', 60_000)).toBeNull();
    await store.release(t, 'key');
    expect(await store.claim(t, 'key', 'again', 60_000)).toBeNull();
  });
});
