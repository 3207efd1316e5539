import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryRateLimitStore } from '../../src/services/limits/memory-store.js';
import { RedisRateLimitStore } from '../../src/services/limits/redis-store.js';
import {
  type Acquired,
  type LimitCheck,
  type RateLimitStore,
  WINDOW_MS,
} from '../../src/services/limits/store.js';
import { TEST_REDIS } from '../helpers/services.js';

const REDIS_URL = `redis://${TEST_REDIS.host}:${TEST_REDIS.port}`;
/** A minute boundary, so at(59.5) reads as ":59.5". */
const T0 = Date.UTC(2030, 0, 1);
const B0 = T0 / 1000;
const LEASE_MS = 30_000;

/** Two stores over the same counters (for Redis: two clients, like two instances). */
interface Opened {
  stores: [RateLimitStore, RateLimitStore];
  key(name: string): string;
  dispose(): Promise<void>;
}

interface StoreKind {
  name: string;
  open(clock?: () => number): Opened;
}

let redisClients: [Redis, Redis] | undefined;

function clients(): [Redis, Redis] {
  redisClients ??= [new Redis(REDIS_URL), new Redis(REDIS_URL)];
  return redisClients;
}

afterAll(async () => {
  if (redisClients) await Promise.all(redisClients.map((client) => client.quit()));
});

function openMemory(clock?: () => number): Opened {
  const store = new MemoryRateLimitStore(clock ? { clock } : {});
  return { stores: [store, store], key: (name) => name, dispose: () => store.close() };
}

function openRedis(clock?: () => number): Opened {
  const [a, b] = clients();
  const prefix = `{t:${randomUUID()}}:`;
  const keys = new Set<string>();
  const options = clock ? { clock } : {};
  return {
    stores: [new RedisRateLimitStore(a, options), new RedisRateLimitStore(b, options)],
    key: (name) => {
      keys.add(prefix + name);
      return prefix + name;
    },
    dispose: async () => {
      if (keys.size > 0) await a.del(...keys);
    },
  };
}

const kinds: StoreKind[] = [
  { name: 'memory', open: openMemory },
  { name: 'redis', open: openRedis },
];

const requests = (key: string, limit: number, amount = 1): LimitCheck => ({
  key,
  kind: 'requests',
  limit,
  amount,
});
const tokens = (key: string, limit: number, amount: number): LimitCheck => ({
  key,
  kind: 'tokens',
  limit,
  amount,
});
const slot = (key: string, limit: number): LimitCheck => ({
  key,
  kind: 'concurrent',
  limit,
  amount: 1,
});

const quota = (
  key: string,
  limit: number,
  amount: number,
  extra: Partial<Pick<LimitCheck, 'seed' | 'expiresAt' | 'thresholds'>> = {},
): LimitCheck => ({ key, kind: 'quota', limit, amount, ...extra });

function taken(result: Acquired): Extract<Acquired, { ok: true }> {
  if (!result.ok) throw new Error(`expected the request to be taken: ${JSON.stringify(result)}`);
  return result;
}

function refused(result: Acquired): Extract<Acquired, { refused: LimitCheck }> {
  if (result.ok || 'unseeded' in result)
    throw new Error(`expected a refusal: ${JSON.stringify(result)}`);
  return result;
}

/** Remaining and resetMs of each check, the parts worth comparing. */
const summary = (result: Acquired) =>
  result.states.map(({ remaining, resetMs }) => ({ remaining, resetMs }));

describe.each(kinds)('$name rate-limit store', (kind) => {
  let now = T0;
  /** Seconds after T0. */
  const at = (seconds: number) => {
    now = T0 + Math.round(seconds * 1000);
  };
  let opened: Opened;
  let store: RateLimitStore;
  let other: RateLimitStore;
  let key: (name: string) => string;
  const acquire = (checks: LimitCheck[], leaseId: string = randomUUID(), leaseMs = LEASE_MS) =>
    store.acquire(checks, leaseId, leaseMs);
  const adjust = (bucket: number, check: LimitCheck, delta: number) =>
    store.settle(bucket, { adjustments: [{ key: check.key, delta }], leases: [] }, 'unused');
  const release = (check: LimitCheck, leaseId: string) =>
    store.settle(B0, { adjustments: [], leases: [check.key] }, leaseId);

  beforeEach(() => {
    at(0);
    opened = kind.open(() => now);
    [store, other] = opened.stores;
    key = opened.key;
  });

  afterEach(async () => {
    await opened.dispose();
  });

  it('fits up to the limit exactly, then refuses', async () => {
    const check = requests(key('r'), 3);
    for (const remaining of [2, 1, 0]) {
      const result = taken(await acquire([check]));
      expect(result.bucket).toBe(B0);
      expect(summary(result)).toEqual([{ remaining, resetMs: 61_000 }]);
    }
    const result = refused(await acquire([check]));
    expect(result.refused).toEqual(check);
    expect(result.retryAfterMs).toBe(61_000);
    expect(result.states).toEqual([
      { key: check.key, kind: 'requests', limit: 3, remaining: 0, resetMs: 61_000 },
    ]);
  });

  it('takes all or nothing, and names the first check that does not fit', async () => {
    const perMinute = requests(key('a'), 5);
    const budget = tokens(key('b'), 100, 30);
    const slots = slot(key('c'), 2);
    taken(await acquire([tokens(budget.key, 100, 80)]));

    const result = refused(await acquire([perMinute, budget, slots, requests(key('d'), 0)]));
    expect(result.refused).toEqual(budget);
    expect(result.retryAfterMs).toBe(61_000);
    // Every check's state as things stand: nothing of this request was counted.
    expect(summary(result)).toEqual([
      { remaining: 5, resetMs: 0 },
      { remaining: 20, resetMs: 61_000 },
      { remaining: 2, resetMs: 0 },
      { remaining: 0, resetMs: 0 },
    ]);

    const after = taken(await acquire([perMinute, tokens(budget.key, 100, 20), slots]));
    expect(summary(after).map((state) => state.remaining)).toEqual([4, 0, 1]);
  });

  it('slides: usage from t=0 blocks until its bucket leaves the window at t=61s', async () => {
    const check = requests(key('r'), 10);
    taken(await acquire([check]));
    at(59.9);
    taken(await acquire([requests(check.key, 10, 9)]));

    at(60.9);
    const blocked = refused(await acquire([check]));
    expect(blocked.retryAfterMs).toBe(100);
    // The newest usage (bucket 59) leaves at 120 s.
    expect(summary(blocked)).toEqual([{ remaining: 0, resetMs: 59_100 }]);

    at(61);
    const result = taken(await acquire([check]));
    expect(result.bucket).toBe(B0 + 61);
    expect(summary(result)).toEqual([{ remaining: 0, resetMs: 61_000 }]);
  });

  it('allows no burst across a minute boundary', async () => {
    const check = requests(key('r'), 10);
    at(59.5);
    taken(await acquire([requests(check.key, 10, 10)]));
    for (const [seconds, retryAfterMs] of [
      [60.2, 59_800],
      [61, 59_000],
      [119.999, 1],
    ] as const) {
      at(seconds);
      expect(refused(await acquire([check])).retryAfterMs).toBe(retryAfterMs);
    }
    at(120);
    taken(await acquire([check]));
  });

  it('reports exact retryAfterMs and resetMs', async () => {
    const budget = (amount: number) => tokens(key('t'), 10, amount);
    expect(summary(taken(await acquire([budget(0)])))).toEqual([{ remaining: 10, resetMs: 0 }]);
    at(1.2);
    taken(await acquire([budget(4)]));
    at(5.7);
    taken(await acquire([budget(3)]));
    at(30.1);
    taken(await acquire([budget(3)]));

    at(40.5);
    // Bucket 1 (4 tokens) leaves at 62 s, bucket 5 (3) at 66 s, bucket 30 (3) at 91 s.
    for (const [amount, retryAfterMs] of [
      [1, 21_500],
      [4, 21_500],
      [5, 25_500],
      [7, 25_500],
      [8, 50_500],
      [10, 50_500],
    ] as const) {
      const result = refused(await acquire([budget(amount)]));
      expect(result.retryAfterMs).toBe(retryAfterMs);
      expect(summary(result)).toEqual([{ remaining: 0, resetMs: 50_500 }]);
    }

    at(62);
    expect(summary(taken(await acquire([budget(0)])))).toEqual([{ remaining: 4, resetMs: 29_000 }]);
    expect(summary(taken(await acquire([budget(4)])))).toEqual([{ remaining: 0, resetMs: 61_000 }]);
  });

  it('settles tokens: refunds free capacity, never below zero; extra usage consumes', async () => {
    const budget = (amount: number) => tokens(key('t'), 1000, amount);
    at(1);
    taken(await acquire([budget(200)]));
    at(2);
    const { bucket } = taken(await acquire([budget(500)]));
    expect(bucket).toBe(B0 + 2);
    const remaining = async () => summary(taken(await acquire([budget(0)])))[0];

    await adjust(bucket, budget(0), -300);
    expect(await remaining()).toEqual({ remaining: 600, resetMs: 61_000 });
    // Only bucket 2's own 200 can be refunded; bucket 1 stays, and so does its reset.
    await adjust(bucket, budget(0), -1000);
    expect(await remaining()).toEqual({ remaining: 800, resetMs: 60_000 });
    // Another instance settles into the same counters.
    await other.settle(bucket, { adjustments: [{ key: key('t'), delta: 150 }], leases: [] }, 'x');
    expect(await remaining()).toEqual({ remaining: 650, resetMs: 61_000 });

    at(62);
    expect(await remaining()).toEqual({ remaining: 850, resetMs: 1_000 });
  });

  it('ignores a settlement into a bucket that has left the window', async () => {
    const budget = (amount: number) => tokens(key('t'), 100, amount);
    const { bucket } = taken(await acquire([budget(100)]));
    at(60.9);
    await adjust(bucket, budget(0), -40);
    taken(await acquire([budget(40)]));

    at(61);
    await adjust(bucket, budget(0), 500);
    await adjust(bucket, budget(0), -500);
    // Only bucket 60's 40 tokens count.
    expect(summary(taken(await acquire([budget(60)])))).toEqual([
      { remaining: 0, resetMs: 61_000 },
    ]);
  });

  it('limits concurrent requests and frees a slot on settle, once', async () => {
    const check = slot(key('c'), 2);
    expect(summary(taken(await acquire([check], 'a')))).toEqual([{ remaining: 1, resetMs: 0 }]);
    at(1);
    expect(summary(taken(await acquire([check], 'b')))).toEqual([{ remaining: 0, resetMs: 0 }]);
    at(2);
    const full = refused(await acquire([check], 'c'));
    expect(full.retryAfterMs).toBe(LEASE_MS - 2000);
    expect(summary(full)).toEqual([{ remaining: 0, resetMs: 0 }]);

    await release(check, 'nobody');
    refused(await acquire([check], 'c'));
    await release(check, 'a');
    taken(await acquire([check], 'c'));
    // A second settlement of 'a' frees nothing: its slot went to 'c'.
    await release(check, 'a');
    expect(refused(await acquire([check], 'd')).retryAfterMs).toBe(LEASE_MS - 1000);
  });

  it("frees a crashed holder's slot when its lease expires", async () => {
    const check = slot(key('c'), 1);
    taken(await acquire([check], 'crashed', 5000));
    at(4.999);
    expect(refused(await acquire([check], 'next', 5000)).retryAfterMs).toBe(1);
    at(5);
    taken(await acquire([check], 'next', 5000));
  });

  it('counts the same lease id once and renews it', async () => {
    const check = slot(key('c'), 1);
    taken(await acquire([check], 'x', 5000));
    at(3);
    expect(summary(taken(await acquire([check], 'x', 5000)))).toEqual([
      { remaining: 0, resetMs: 0 },
    ]);
    at(6);
    expect(refused(await acquire([check], 'y')).retryAfterMs).toBe(2000);
  });

  it('refuses an amount above the limit with a full window', async () => {
    const result = refused(await acquire([tokens(key('t'), 100, 101)]));
    expect(result.retryAfterMs).toBe(WINDOW_MS);
    expect(summary(result)).toEqual([{ remaining: 100, resetMs: 0 }]);
    expect(refused(await acquire([slot(key('c'), 0)])).retryAfterMs).toBe(WINDOW_MS);
  });

  it.each([
    ['requests', (name: string) => requests(name, 50)],
    ['concurrent', (name: string) => slot(name, 50)],
  ] as const)('admits exactly the limit of 200 simultaneous %s', async (_, make) => {
    const check = make(key('many'));
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (i % 2 === 0 ? store : other).acquire([check], `lease-${i}`, LEASE_MS),
      ),
    );
    expect(results.filter((result) => result.ok)).toHaveLength(50);
  });

  it('uses the real clock by default', async () => {
    const unclocked = kind.open();
    try {
      const before = Math.floor(Date.now() / 1000);
      const { bucket } = taken(await unclocked.stores[0].acquire([requests(key('r'), 1)], 'x', 1));
      expect(bucket).toBeGreaterThanOrEqual(before);
      expect(bucket).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    } finally {
      await unclocked.dispose();
    }
  });

  it('rejects amounts a counter cannot hold', async () => {
    await expect(acquire([tokens(key('t'), 100, 1.5)])).rejects.toThrow(RangeError);
    await expect(acquire([tokens(key('t'), 100, -1)])).rejects.toThrow(RangeError);
    await expect(acquire([quota(key('q'), 100, 1, { seed: -5 })])).rejects.toThrow(RangeError);
  });

  describe('quotas', () => {
    const settleQuota = (check: LimitCheck, delta: number) =>
      store.settle(
        B0,
        {
          adjustments: [],
          leases: [],
          quotas: [
            { key: check.key, delta, limit: check.limit, thresholds: check.thresholds ?? [] },
          ],
        },
        'unused',
      );

    it('reports a missing counter without a seed, and takes nothing at all', async () => {
      const perMinute = requests(key('r'), 5);
      const result = await acquire([perMinute, quota(key('q'), 100, 10)]);
      expect(result).toMatchObject({ ok: false, refused: null });
      expect('unseeded' in result && result.unseeded.map((check) => check.key)).toEqual([key('q')]);
      // Nothing of the request was counted, the per-minute limit included.
      expect(summary(taken(await acquire([requests(perMinute.key, 5, 0)])))).toEqual([
        { remaining: 5, resetMs: 0 },
      ]);
    });

    it('starts a missing counter at its seed and holds the total to the limit', async () => {
      const check = quota(key('q'), 100, 30, { seed: 40 });
      expect(summary(taken(await acquire([check])))).toEqual([{ remaining: 30, resetMs: 0 }]);
      // The counter exists now: a seed, even a different one, no longer applies.
      taken(await acquire([{ ...check, seed: 0 }]));
      const result = refused(await acquire([check]));
      expect(result.refused).toEqual(check);
      expect(result.firstRefusal).toBe(true);
      expect(summary(result)).toEqual([{ remaining: 0, resetMs: 0 }]);
      // Told once per counter: the second refusal is not the first.
      expect(refused(await acquire([check])).firstRefusal).toBe(false);
      expect(refused(await acquire([tokens(key('t'), 100, 200)])).firstRefusal).toBe(false);
    });

    it('writes a seed even when the request is refused, and takes nothing else', async () => {
      const check = quota(key('q'), 100, 30, { seed: 90 });
      refused(await acquire([check]));
      const result = refused(await acquire([{ ...check, seed: undefined }]));
      expect(summary(result)).toEqual([{ remaining: 10, resetMs: 0 }]);
    });

    it('reports each threshold once, when usage passes it, and none the seed had passed', async () => {
      const check = quota(key('q'), 200, 50, { seed: 60, thresholds: [25, 50, 80, 100] });
      taken(await acquire([check]));
      // 60 + 50 reserved, 40 used: 100 of 200.
      expect(await settleQuota(check, -10)).toEqual([{ key: check.key, threshold: 50, used: 100 }]);
      taken(await acquire([check]));
      expect(await settleQuota(check, 0)).toEqual([]);
      taken(await acquire([{ ...check, amount: 10 }]));
      // Past the limit by what was used beyond the reservation: 80 and 100 at once.
      expect(await settleQuota(check, 45)).toEqual([
        { key: check.key, threshold: 80, used: 205 },
        { key: check.key, threshold: 100, used: 205 },
      ]);
      expect(await settleQuota(check, -100)).toEqual([]);
      expect(await settleQuota(check, 100)).toEqual([]);
    });

    it('never counts below zero, and leaves a counter that has gone to be rebuilt', async () => {
      const check = quota(key('q'), 100, 10, { seed: 5 });
      taken(await acquire([check]));
      await settleQuota(check, -50);
      expect(summary(taken(await acquire([{ ...check, amount: 0 }])))).toEqual([
        { remaining: 100, resetMs: 0 },
      ]);
      const gone = quota(key('gone'), 100, 10, { thresholds: [1] });
      expect(await settleQuota(gone, 70)).toEqual([]);
      expect('unseeded' in (await acquire([gone]))).toBe(true);
    });

    it('forgets a counter past its expiry: the next request asks for a seed again', async () => {
      const check = quota(key('q'), 100, 10, { seed: 0, expiresAt: Date.now() - 1000 });
      taken(await acquire([check]));
      expect('unseeded' in (await acquire([{ ...check, seed: undefined }]))).toBe(true);
    });

    it('never lets concurrent acquisitions take more than the limit between them', async () => {
      const check = quota(key('q'), 1000, 30, { seed: 100 });
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          (i % 2 ? store : other).acquire([check], `l${i}`, LEASE_MS),
        ),
      );
      expect(results.filter((result) => result.ok)).toHaveLength(30);
    });
  });
});

describe('redis rate-limit store', () => {
  let now = T0;
  let opened: Opened;
  let store: RateLimitStore;

  beforeEach(() => {
    now = T0;
    opened = openRedis(() => now);
    [store] = opened.stores;
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await opened.dispose();
  });

  it('acquires and settles in one round trip each', async () => {
    const [client] = clients();
    const budget = tokens(opened.key('t'), 10_000, 50);
    const slots = slot(opened.key('c'), 100);
    const checks = [requests(opened.key('r'), 100), budget, slots];
    // Loads the script if this Redis has not seen it yet.
    taken(await store.acquire(checks, 'warm-up', LEASE_MS));

    const sent = vi.spyOn(client, 'sendCommand');
    for (let i = 0; i < 5; i++) taken(await store.acquire(checks, `lease-${i}`, LEASE_MS));
    const settlement = { adjustments: [{ key: budget.key, delta: -10 }], leases: [slots.key] };
    await store.settle(B0, settlement, 'lease-0');
    expect(sent.mock.calls.map(([command]) => command.name)).toEqual(Array(6).fill('evalsha'));
  });

  it('sends the script again when Redis has lost it', async () => {
    const [client] = clients();
    vi.spyOn(client, 'evalsha').mockRejectedValueOnce(new Error('NOSCRIPT No matching script.'));
    taken(await store.acquire([requests(opened.key('r'), 1)], 'x', LEASE_MS));
  });

  it('lets its keys expire by themselves and writes nothing on refusal', async () => {
    const [client] = clients();
    const counter = requests(opened.key('r'), 1);
    const leases = slot(opened.key('c'), 1);
    taken(await store.acquire([counter, leases], 'x', 10_000));
    expect(await client.pttl(counter.key)).toBeGreaterThan(WINDOW_MS);
    expect(await client.pttl(counter.key)).toBeLessThanOrEqual(WINDOW_MS + 2000);
    expect(await client.pttl(leases.key)).toBeGreaterThan(10_000);
    expect(await client.pttl(leases.key)).toBeLessThanOrEqual(12_000);

    const fresh = [requests(opened.key('fresh-r'), 5), slot(opened.key('fresh-c'), 5)];
    refused(await store.acquire([...fresh, counter], 'y', 10_000));
    expect(await client.exists(...fresh.map((check) => check.key))).toBe(0);

    now = T0 + 61_000;
    await store.settle(B0, { adjustments: [{ key: counter.key, delta: 5 }], leases: [] }, 'x');
    expect(await client.hget(counter.key, String(B0))).toBe('1');
  });

  it('reads the Redis clock by default', async () => {
    const [client] = clients();
    const unclocked = openRedis();
    try {
      const [seconds] = await client.time();
      const { bucket } = taken(
        await unclocked.stores[0].acquire([requests(unclocked.key('r'), 1)], 'x', 1),
      );
      expect(bucket - Number(seconds)).toBeGreaterThanOrEqual(0);
      expect(bucket - Number(seconds)).toBeLessThanOrEqual(1);
    } finally {
      await unclocked.dispose();
    }
  });
});

describe('memory rate-limit store', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('forgets idle counters, when touched or swept', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let now = T0;
    const store = new MemoryRateLimitStore({ clock: () => now });
    taken(await store.acquire([requests('r', 5), slot('c', 5)], 'x', 5000));
    taken(await store.acquire([requests('touched', 5)], 'x', 5000));
    expect(store.keyCount()).toBe(3);

    now = T0 + 61_000;
    taken(await store.acquire([requests('touched', 5, 0)], 'y', 5000));
    expect(store.keyCount()).toBe(2);
    vi.advanceTimersByTime(60_000);
    expect(store.keyCount()).toBe(0);
    await store.close();
  });
});
