import type { Redis } from 'ioredis';
import type { CacheStats, IdempotencyStore, ResponseStore, StoredValue } from './store.js';

/**
 * A tenant's cache keys, all under its hash tag so one script touches one Redis Cluster slot:
 * the entries (`e:<key>`, each with its lifetime), the entries by time stored (`idx`, for
 * eviction), by time of expiry (`exp`, to forget expired ones), their sizes (`sizes`), the
 * bytes in all (`bytes`) and the hit and miss counters (`stats`).
 */
const prefix = (tenantId: string) => `llmb:cache:{${tenantId}}:`;

/** Drops one entry and its accounting: expiry, eviction and replacement. */
const DROP = `
local function drop(p, key)
  local size = tonumber(redis.call('hget', p .. 'sizes', key) or '0')
  redis.call('decrby', p .. 'bytes', size)
  redis.call('hdel', p .. 'sizes', key)
  redis.call('zrem', p .. 'idx', key)
  redis.call('zrem', p .. 'exp', key)
  redis.call('del', p .. 'e:' .. key)
end
`;

/**
 * Forgets entries that expired, a bounded batch per call. Entries Redis itself evicted under
 * `maxmemory` are forgotten the same way once their time is up, or sooner when eviction
 * reaches them.
 */
const SWEEP = `${DROP}
local function sweep(p, now)
  local gone = redis.call('zrangebyscore', p .. 'exp', '-inf', now, 'LIMIT', 0, 100)
  for _, key in ipairs(gone) do drop(p, key) end
end
`;

/** KEYS[1]: the tenant's prefix. ARGV: now. */
const SWEEP_NOW = `${SWEEP}
sweep(KEYS[1], tonumber(ARGV[1]))
`;

/**
 * KEYS[1]: the tenant's prefix. ARGV: key, value, now, ttl ms, budget bytes. Atomically:
 * forget expired entries, drop the key's old entry, evict the oldest until the new one fits,
 * then store it with its lifetime. Returns 0 when it cannot fit at all.
 */
const PUT = `${SWEEP}
local p = KEYS[1]
local key, value = ARGV[1], ARGV[2]
local now, ttl, budget = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local size = string.len(value)
if size > budget then return 0 end
sweep(p, now)
drop(p, key)
local bytes = tonumber(redis.call('get', p .. 'bytes') or '0')
while bytes + size > budget do
  local oldest = redis.call('zrange', p .. 'idx', 0, 0)
  if #oldest == 0 then break end
  drop(p, oldest[1])
  bytes = tonumber(redis.call('get', p .. 'bytes') or '0')
end
redis.call('set', p .. 'e:' .. key, now .. ':' .. (now + ttl) .. ':' .. value, 'PX', ttl)
redis.call('zadd', p .. 'idx', now, key)
redis.call('zadd', p .. 'exp', now + ttl, key)
redis.call('hset', p .. 'sizes', key, size)
redis.call('incrby', p .. 'bytes', size)
return 1
`;

/** KEYS[1]: the prefix. Drops every entry and counter of the tenant; returns the entries. */
const PURGE = `
local p = KEYS[1]
local keys = redis.call('zrange', p .. 'idx', 0, -1)
for i = 1, #keys, 500 do
  local batch = {}
  for j = i, math.min(i + 499, #keys) do batch[#batch + 1] = p .. 'e:' .. keys[j] end
  redis.call('del', unpack(batch))
end
redis.call('del', p .. 'idx', p .. 'exp', p .. 'sizes', p .. 'bytes', p .. 'stats')
return #keys
`;

/**
 * Entries are stored as `<storedAt>:<expiresAt>:<value>`, so one GET reads all three; the
 * expiry is checked here too, against this store's clock, not only by Redis.
 */
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
    private readonly client: Redis,
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
    const stored = await this.client.eval(
      PUT,
      1,
      prefix(tenantId),
      key,
      value,
      now,
      Math.round(options.ttlMs),
      options.budgetBytes,
    );
    return stored === 1;
  }

  async count(tenantId: string, outcome: 'hit' | 'miss'): Promise<void> {
    await this.client.hincrby(`${prefix(tenantId)}stats`, outcome === 'hit' ? 'hits' : 'misses', 1);
  }

  async stats(tenantId: string): Promise<CacheStats> {
    const p = prefix(tenantId);
    await this.client.eval(SWEEP_NOW, 1, p, this.clock());
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
    return Number(await this.client.eval(PURGE, 1, prefix(tenantId)));
  }

  /** The connection is the process's, closed with the others. */
  async close(): Promise<void> {}
}

const idempotencyKey = (tenantId: string, key: string) => `llmb:idem:{${tenantId}}:${key}`;

/** Idempotency keys in Redis: SET NX for the pending marker, so one request wins. */
export class RedisIdempotencyStore implements IdempotencyStore {
  constructor(private readonly client: Redis) {}

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
