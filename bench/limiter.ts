/**
 * What admission costs, at fifteen counters (requests, tokens and concurrent limits of a
 * tenant, a user and a key, and a token quota and a spend budget at each level): one ledger
 * call on Redis (what a request pays when this instance holds nothing), an admission through
 * the leases (what a request pays once warm), and the same on the in-process ledger, next to
 * a bare Redis PING over the same connection in the same run. Also counts the Redis commands
 * per admission, from Redis's own INFO commandstats.
 *
 *   npm run bench:limits            (REDIS_URL, default redis://127.0.0.1:6379)
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Admissions, type Check } from '../src/services/limits/admission.js';
import type { CounterSpec, Ledger } from '../src/services/limits/ledger.js';
import { MemoryLedger } from '../src/services/limits/memory-ledger.js';
import { RedisLedger } from '../src/services/limits/redis-ledger.js';

const ROUNDS = Number(process.env.ROUNDS ?? 5000);
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function checks(tag: string): Check[] {
  const counter = (key: string, spec: Omit<CounterSpec, 'key'>, amount: number): Check => ({
    spec: { key: `bench:{${tag}}:${key}`, ...spec },
    amount,
  });
  return ['tenant', 'user', 'key'].flatMap((scope) => [
    counter(`${scope}:requests`, { kind: 'window', limit: 1e9, windowMs: 60_000 }, 1),
    counter(`${scope}:tokens`, { kind: 'window', limit: 1e12, windowMs: 60_000 }, 1200),
    counter(`${scope}:concurrent`, { kind: 'concurrent', limit: 1e6 }, 1),
    counter(`${scope}:quota:tokens`, { kind: 'quota', limit: 1e15, seed: 0 }, 1200),
    counter(`${scope}:quota:cost`, { kind: 'quota', limit: 1e15, seed: 0 }, 3_600_000),
  ]);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function measure(name: string, once: (i: number) => Promise<unknown>) {
  for (let i = 0; i < 200; i++) await once(i);
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now();
    await once(i);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { name, p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function commandCalls(client: Redis): Promise<number> {
  const info = await client.info('commandstats');
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm))
    if (match[1] !== 'info') calls += Number(match[2]);
  return calls;
}

function admissions(ledger: Ledger): Admissions {
  return new Admissions({
    ledger,
    holder: `bench-${process.pid}`,
    instances: () => 1,
    leaseMs: 1000,
    holdMs: 15_000,
    idleMs: 250,
    timeoutMs: 1000,
    onError: (error) => console.error(error),
    onCrossing: () => {},
    reclaim: { publish: async () => {}, subscribe: () => {} },
  });
}

/** One request: admitted, then over at once (its slots back, its reservations corrected). */
const admitted = (admission: Admissions, list: Check[]) => async () => {
  const decision = await admission.admit(list);
  if (decision.kind !== 'admitted') throw new Error(`not admitted: ${decision.kind}`);
  admission.release(
    decision.ticket,
    list.map((check) => check.amount),
  );
};

const client = new Redis(url);
const observer = new Redis(url);
const tag = randomUUID();
const list = checks(tag);
const redisLedger = new RedisLedger(client);
const memoryLedger = new MemoryLedger();
const onRedis = admissions(redisLedger);
const inMemory = admissions(memoryLedger);
let lease = 0;
const rawCall = () =>
  redisLedger.acquire({
    counters: list.map((check) => check.spec),
    holder: 'bench-raw',
    instances: 1,
    leaseMs: 1000,
    holdMs: 15_000,
    held: list.map(() => 0),
    idle: list.map(() => 0),
    leaseIds: list.map((check) => (check.spec.kind === 'window' ? `lse_raw_${++lease}` : '')),
    leases: [],
    demands: [{ amounts: list.map((check, counter) => ({ counter, amount: check.amount })) }],
    prefetch: false,
  });

const ping = await measure('Redis PING (one round trip)', () => client.ping());
const raw = await measure('one ledger call on Redis, 15 counters', rawCall);
const redis = await measure('admission through leases, Redis ledger', admitted(onRedis, list));
const memory = await measure(
  'admission through leases, in-process ledger',
  admitted(inMemory, list),
);
const before = await commandCalls(observer);
const sample = 20_000;
for (let i = 0; i < sample; i++) await admitted(onRedis, list)();
await onRedis.close();
const perAdmission = ((await commandCalls(observer)) - before) / sample;

console.log(`\nrate limit admission, ${ROUNDS} rounds each (ms)\n`);
console.log('| what | p50 | p99 |');
console.log('| ---- | --: | --: |');
for (const row of [ping, raw, redis, memory])
  console.log(`| ${row.name} | ${row.p50.toFixed(3)} | ${row.p99.toFixed(3)} |`);
console.log(`\nRedis commands per admission through leases: ${perAdmission.toFixed(3)}`);
const keys = await observer.keys(`bench:{${tag}*`);
if (keys.length > 0) await observer.del(...keys);
await inMemory.close();
await Promise.all([client.quit(), observer.quit(), memoryLedger.close()]);
