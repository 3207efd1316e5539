import type { RedisCommands } from '../../storage/redis.js';
import type { CacheStats, IdempotencyStore, ResponseStore, StoredValue } from './store.js';

/**
 * A tenant's cache keys, all under its hash tag so one script touches one Redis Cluster slot:
 * the entries (`e:<key>`, each with its lifetime), the entries by time stored (`idx`, for
 * eviction), by time of expiry (`exp`, to forget expired ones), their sizes (`sizes`), the
 * bytes in all (`bytes`) and the hit and miss counters (`stats`).
 */
const prefix = (tenantId: string) => `llmb:cache:{${tenantId}}:`;

/**
 * Every script is handed each key it touches (a cluster refuses a script that reaches a key
 * it was not given): KEYS[1..4] are the tenant's idx, exp, sizes and bytes. An entry a script
 * drops without having been handed its key (one evicted for room) is named in its reply and
 * deleted afterwards by FORGET; expired ones need not be, their keys expire on their own.
 */
const BOOKS = ['idx', 'exp', 'sizes', 'bytes'] as const;
const books = (p: string) => BOOKS.map((name) => `${p}${name}`);

/** Drops one entry's accounting: expiry, eviction and replacement. */
const DROP = `
local function drop(key)
  local size = tonumber(redis.call('hget', KEYS[3], key) or '0')
  redis.call('decrby', KEYS[4], size)
  redis.call('hdel', KEYS[3], key)
  redis.call('zrem', KEYS[1], key)
  redis.call('zrem', KEYS[2], key)
end
`;

/** Forgets the expired entries (a bounded number per call), oldest expiry first. */
const SWEEP = `${DROP}
local function sweep(now)
  local gone = redis.call('zrangebyscore', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
  for _, key in ipairs(gone) do drop(key) end
end
`;

const SWEEP_NOW = `${SWEEP}
sweep(tonumber(ARGV[1]))
`;

/**
 * Stores one entry (KEYS[5] its key) and evicts the oldest until the tenant's entries fit its
 * budget. Returns {0} when the value alone exceeds the budget, else {1, evicted names...}.
 */
const PUT = `${SWEEP}
local key, value = ARGV[1], ARGV[2]
local now, ttl, budget = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local size = string.len(value)
if size > budget then return { 0 } end
sweep(now)
drop(key)
local evicted = { 1 }
local bytes = tonumber(redis.call('get', KEYS[4]) or '0')
while bytes + size > budget do
  local oldest = redis.call('zrange', KEYS[1], 0, 0)
  if #oldest == 0 then break end
  drop(oldest[1])
  evicted[#evicted + 1] = oldest[1]
  bytes = tonumber(redis.call('get', KEYS[4]) or '0')
end
redis.call('set', KEYS[5], now .. ':' .. (now + ttl) .. ':' .. value, 'PX', ttl)
redis.call('zadd', KEYS[1], now, key)
redis.call('zadd', KEYS[2], now + ttl, key)
redis.call('hset', KEYS[3], key, size)
redis.call('incrby', KEYS[4], size)
return evicted
`;

/**
 * Deletes the entries KEYS[2..] (names in ARGV) unless stored again since they were evicted
 * (back in the index KEYS[1]).
 */
const FORGET = `
for i = 2, #KEYS do
  if not redis.call('zscore', KEYS[1], ARGV[i - 1]) then redis.call('del', KEYS[i]) end
end
return 1
`;

/** Drops a tenant's bookkeeping (KEYS[1..5]: idx, exp, sizes, bytes, stats); returns the names. */
const PURGE = `
local keys = redis.call('zrange', KEYS[1], 0, -1)
redis.call('del', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return keys
`;

/** How many entry keys one DEL takes when a purge deletes them. */
const PURGE_BATCH = 500;

function parseStored(raw: string | null, now: number): StoredValue | null {
  if (raw === null) return null;
  const first = raw.indexOf(':');
  const second = raw.indexOf(':', first + 1);
  const storedAt = Number(raw.slice(0, first));
  const expiresAt = Number(raw.slice(first + 1, second));
  // Not ours (written by hand, or damaged): the value as it is, for the caller to judge.
  if (first < 1 || second < 0 || !Number.isFinite(storedAt) || !Number.isFinite(expiresAt))
    return { value: raw, storedAt: now };
  if (expiresAt <= now) return null;
  return { value: raw.slice(second + 1), storedAt };
}

/** Every instance shares each tenant's cache in Redis. */
export class RedisResponseStore implements ResponseStore {
  constructor(
    private readonly client: RedisCommands,
    private readonly clock: () => number = Date.now,
  ) {}

  async get(tenantId: string, key: string): Promise<StoredValue | null> {
    return parseStored(await this.client.get(`${prefix(tenantId)}e:${key}`), this.clock());
  }

  async put(
    tenantId: string,
    key: string,
    value: string,
    options: { ttlMs: number; budgetBytes: number },
  ): Promise<boolean> {
    if (options.ttlMs <= 0) return false;
    const now = this.clock();
    const p = prefix(tenantId);
    const reply = (await this.client.eval(
      PUT,
      5,
      ...books(p),
      `${p}e:${key}`,
      key,
      value,
      now,
      Math.round(options.ttlMs),
      options.budgetBytes,
    )) as (number | string)[];
    const evicted = reply.slice(1).map(String);
    if (evicted.length > 0)
      await this.client.eval(
        FORGET,
        1 + evicted.length,
        `${p}idx`,
        ...evicted.map((name) => `${p}e:${name}`),
        ...evicted,
      );
    return reply[0] === 1;
  }

  async count(tenantId: string, outcome: 'hit' | 'miss'): Promise<void> {
    await this.client.hincrby(`${prefix(tenantId)}stats`, outcome === 'hit' ? 'hits' : 'misses', 1);
  }

  async stats(tenantId: string): Promise<CacheStats> {
    const p = prefix(tenantId);
    await this.client.eval(SWEEP_NOW, BOOKS.length, ...books(p), this.clock());
    const [entries, bytes, counters] = await Promise.all([
      this.client.zcard(`${p}idx`),
      this.client.get(`${p}bytes`),
      this.client.hgetall(`${p}stats`),
    ]);
    return {
      entries,
      bytes: Number(bytes ?? 0),
      hits: Number(counters.hits ?? 0),
      misses: Number(counters.misses ?? 0),
    };
  }

  async purge(tenantId: string): Promise<number> {
    const p = prefix(tenantId);
    const names = (await this.client.eval(PURGE, 5, ...books(p), `${p}stats`)) as string[];
    for (let i = 0; i < names.length; i += PURGE_BATCH)
      await this.client.del(...names.slice(i, i + PURGE_BATCH).map((name) => `${p}e:${name}`));
    return names.length;
  }

  /** The connection is the process's, closed with the others. */
  async close(): Promise<void> {}
}

const idempotencyKey = (tenantId: string, key: string) => `llmb:idem:{${tenantId}}:${key}`;

/** Idempotency keys in Redis: SET NX for the pending marker, so one request wins. */
export class RedisIdempotencyStore implements IdempotencyStore {
  constructor(private readonly client: RedisCommands) {}

  async claim(tenantId: string, key: string, value: string, ttlMs: number) {
    const id = idempotencyKey(tenantId, key);
    const set = await this.client.set(id, value, 'PX', ttlMs, 'NX');
    if (set === 'OK') return null;
    // Gone between the two calls (expired): claimed by nobody, so the caller may go on.
    return (await this.client.get(id)) ?? null;
  }

  async set(tenantId: string, key: string, value: string, ttlMs: number): Promise<void> {
    await this.client.set(idempotencyKey(tenantId, key), value, 'PX', ttlMs);
  }

  async release(tenantId: string, key: string): Promise<void> {
    await this.client.del(idempotencyKey(tenantId, key));
  }

  async close(): Promise<void> {}
}
