/**
 * What a rate limit check costs: one admission (requests, tokens and concurrent limits of a
 * tenant, a user and a key, and a token quota and a spend budget at each level: fifteen
 * counters) against Redis, next to a bare Redis PING over
 * the same connection (the cost of one round trip, measured in the same run), and against
 * the in-process store. Also counts the Redis commands each admission sends.
 *
 *   npm run bench:limits            (REDIS_URL, default redis://127.0.0.1:6379)
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { MemoryRateLimitStore } from '../src/services/limits/memory-store.js';
import { RedisRateLimitStore } from '../src/services/limits/redis-store.js';
import type { LimitCheck, RateLimitStore } from '../src/services/limits/store.js';

const ROUNDS = Number(process.env.ROUNDS ?? 5000);
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function checks(tag: string): LimitCheck[] {
  return ['tenant', 'user', 'key'].flatMap((scope) => [
    { key: `bench:{${tag}}:${scope}:requests`, kind: 'requests' as const, limit: 1e9, amount: 1 },
    { key: `bench:{${tag}}:${scope}:tokens`, kind: 'tokens' as const, limit: 1e12, amount: 1200 },
    {
      key: `bench:{${tag}}:${scope}:concurrent`,
      kind: 'concurrent' as const,
      limit: 1e6,
      amount: 1,
    },
    {
      key: `bench:{${tag}}:${scope}:quota:tokens`,
      kind: 'quota' as const,
      limit: 1e15,
      amount: 1200,
      seed: 0,
      thresholds: [50, 80, 100],
    },
    {
      key: `bench:{${tag}}:${scope}:quota:cost`,
      kind: 'quota' as const,
      limit: 1e15,
      amount: 3_600_000,
      seed: 0,
      thresholds: [50, 80, 100],
    },
  ]);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Times `once` only; `after` (untimed) cleans up, as a request's settle would. */
async function measure(
  name: string,
  once: (i: number) => Promise<unknown>,
  after: (i: number, result: unknown) => Promise<unknown> = async () => {},
) {
  for (let i = 0; i < 200; i++) await after(i, await once(i));
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now();
    const result = await once(i);
    times.push(performance.now() - started);
    await after(i, result);
  }
  times.sort((a, b) => a - b);
  return { name, p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function evalCalls(client: Redis): Promise<number> {
  const info = await client.info('commandstats');
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm))
    calls += Number(match[2]);
  return calls;
}

const client = new Redis(url);
const observer = new Redis(url);
const tag = randomUUID();
const redisStore = new RedisRateLimitStore(client);
const memoryStore = new MemoryRateLimitStore();
const list = checks(tag);
const acquire = (store: RateLimitStore) => (i: number) => store.acquire(list, `l-${i}`, 60_000);
// Ends each request's concurrent slots, as settle does after a response.
const release = (store: RateLimitStore) => async (i: number, acquired: unknown) => {
  const { ok, bucket } = acquired as { ok: boolean; bucket: number };
  if (!ok) return;
  const leases = list.filter((check) => check.kind === 'concurrent').map((check) => check.key);
  await store.settle(bucket, { adjustments: [], leases }, `l-${i}`);
};

const ping = await measure('Redis PING (one round trip)', () => client.ping());
const redis = await measure(
  'admission on Redis (15 counters)',
  acquire(redisStore),
  release(redisStore),
);
const memory = await measure(
  'admission in memory (15 counters)',
  acquire(memoryStore),
  release(memoryStore),
);
const before = await evalCalls(observer);
const sample = 100;
for (let i = 0; i < sample; i++) await acquire(redisStore)(ROUNDS + i);
const perAdmission = ((await evalCalls(observer)) - before) / sample;

console.log(`\nrate limit admission, ${ROUNDS} rounds each (ms)\n`);
console.log('| what | p50 | p99 |');
console.log('| ---- | --: | --: |');
for (const row of [ping, redis, memory])
  console.log(`| ${row.name} | ${row.p50.toFixed(3)} | ${row.p99.toFixed(3)} |`);
console.log(
  `\nRedis commands per admission: ${perAdmission.toFixed(2)}; admission p50 / PING p50: ${(redis.p50 / ping.p50).toFixed(2)}`,
);
const keys = await observer.keys(`bench:{${tag}*`);
if (keys.length > 0) await observer.del(...keys);
await Promise.all([client.quit(), observer.quit(), memoryStore.close()]);
