import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  type Acquired,
  BUCKET_MS,
  BUCKETS_PER_CHECK,
  type LimitCheck,
  type LimitState,
  type RateLimitStore,
  type Settlement,
  WINDOW_MS,
} from './store.js';

export interface RedisRateLimitStoreOptions {
  /**
   * Epoch milliseconds, for tests. Without it the scripts read Redis TIME, so every instance
   * judges by the same clock however far their own clocks drift.
   */
  clock?: () => number;
}

/** A counter outlives its newest bucket's last counted second, then goes by itself. */
const COUNTER_TTL_MS = WINDOW_MS + 2 * BUCKET_MS;
/** A lease set outlives its last lease by this much, then goes by itself. */
const LEASE_MARGIN_MS = 2 * BUCKET_MS;

/** Shared by both scripts: constants and the clock. */
const PRELUDE = `
local BUCKET_MS = ${BUCKET_MS}
local WINDOW_MS = ${WINDOW_MS}
-- Buckets before the current one that a check still sums (the window's 60).
local EARLIER = ${BUCKETS_PER_CHECK - 1}
local COUNTER_TTL_MS = ${COUNTER_TTL_MS}
local LEASE_MARGIN_MS = ${LEASE_MARGIN_MS}

-- Tests pass a clock in ARGV[1]; otherwise every instance reads this one Redis clock.
local function clock_ms(given)
  if given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * KEYS: one per check. ARGV: now ('' = Redis TIME), lease id, lease ms, then kind, limit and
 * amount of each check.
 * Reply: {1, bucket, 0, remaining, resetMs, ...} when taken,
 *        {0, index of the first refused check (1-based), retryAfterMs, remaining, resetMs, ...}
 * when not. Nothing is written unless every check fits. Cost: O(checks x 61) plus O(log n)
 * per lease set.
 */
const ACQUIRE_LUA = `${PRELUDE}
local now = clock_ms(ARGV[1])
local current = math.floor(now / BUCKET_MS)
local current_field = string.format('%d', current)
local oldest = current - EARLIER
local lease_id = ARGV[2]
local lease_ms = tonumber(ARGV[3])

-- The moment no check sums this bucket any more.
local function leaves_at(bucket)
  return (bucket + EARLIER + 1) * BUCKET_MS
end

local function reset_ms(newest)
  if newest then return leaves_at(newest) - now end
  return 0
end

-- Bucket id -> amount, plus the fields that have left the window (dropped when we write).
local function read_counter(key)
  local flat = redis.call('HGETALL', key)
  local counts, stale = {}, {}
  for i = 1, #flat, 2 do
    local bucket = tonumber(flat[i])
    if bucket < oldest then
      stale[#stale + 1] = flat[i]
    else
      counts[bucket] = tonumber(flat[i + 1])
    end
  end
  return counts, stale
end

-- Walks the buckets oldest first until enough has left the window for the amount to fit.
-- An amount above the limit never fits: a full window, the longest any counter takes to clear.
local function window_retry(counts, used, limit, amount)
  if amount > limit then return WINDOW_MS end
  local freed = 0
  for bucket = oldest, current do
    freed = freed + (counts[bucket] or 0)
    if used - freed + amount <= limit then
      return math.max(1, leaves_at(bucket) - now)
    end
  end
  return WINDOW_MS
end

local function judge_window(key, limit, amount)
  local counts, stale = read_counter(key)
  local used, newest = 0, nil
  for bucket = oldest, current do
    local n = counts[bucket] or 0
    if n > 0 then
      used = used + n
      newest = bucket
    end
  end
  local fits = amount <= limit and used + amount <= limit
  local retry = 0
  if not fits then retry = window_retry(counts, used, limit, amount) end
  return { fits = fits, retry = retry, used = used, newest = newest, stale = stale }
end

-- Counts live leases without deleting expired ones, so a refusal writes nothing.
-- The same lease id renews its slot instead of taking another.
local function judge_leases(key, limit)
  local live = redis.call('ZCOUNT', key, '(' .. now, '+inf')
  local own = redis.call('ZSCORE', key, lease_id)
  local others = live
  if own and tonumber(own) > now then others = live - 1 end
  local fits = others + 1 <= limit
  local retry = 0
  if not fits then
    retry = WINDOW_MS -- below one slot nothing ever fits
    if limit >= 1 then
      -- Our own lease is at most one of the two earliest, so the first other is among them.
      local first = redis.call('ZRANGEBYSCORE', key, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 2)
      for i = 1, #first, 2 do
        if first[i] ~= lease_id then
          retry = math.max(1, tonumber(first[i + 1]) - now)
          break
        end
      end
    end
  end
  return { fits = fits, retry = retry, live = live, others = others }
end

-- What the caller sees: after this request when taken, as things stand otherwise.
local function state_of(kind, limit, amount, found, taken)
  if kind == 'concurrent' then
    if taken then return limit - found.others - 1, 0 end
    return math.max(0, limit - found.live), 0
  end
  if taken then
    local newest = found.newest
    if amount > 0 then newest = current end
    return math.max(0, limit - found.used - amount), reset_ms(newest)
  end
  return math.max(0, limit - found.used), reset_ms(found.newest)
end

local function take_window(key, amount, stale)
  if amount == 0 then return end
  redis.call('HINCRBY', key, current_field, amount)
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  redis.call('PEXPIRE', key, COUNTER_TTL_MS)
end

local function take_lease(key)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  redis.call('ZADD', key, now + lease_ms, lease_id)
  -- Live as long as its longest lease, whoever took it.
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', key, math.ceil(tonumber(last[2]) - now + LEASE_MARGIN_MS))
end

local checks, refused, retry_after = {}, 0, 0
for i, key in ipairs(KEYS) do
  local at = 3 + (i - 1) * 3
  local check = { kind = ARGV[at + 1], limit = tonumber(ARGV[at + 2]), amount = tonumber(ARGV[at + 3]) }
  if check.kind == 'concurrent' then
    check.found = judge_leases(key, check.limit)
  else
    check.found = judge_window(key, check.limit, check.amount)
  end
  if refused == 0 and not check.found.fits then
    refused, retry_after = i, check.found.retry
  end
  checks[i] = check
end

local taken = refused == 0
local reply = { 1, current, 0 }
if not taken then reply = { 0, refused, retry_after } end
for i, check in ipairs(checks) do
  local remaining, reset = state_of(check.kind, check.limit, check.amount, check.found, taken)
  reply[#reply + 1] = remaining
  reply[#reply + 1] = reset
  if taken then
    if check.kind == 'concurrent' then
      take_lease(KEYS[i])
    else
      take_window(KEYS[i], check.amount, check.found.stale)
    end
  end
end
return reply
`;

/**
 * KEYS: the adjusted counters, then the lease sets. ARGV: now ('' = Redis TIME), bucket,
 * lease id, number of adjustments, then each adjustment's delta.
 */
const SETTLE_LUA = `${PRELUDE}
local now = clock_ms(ARGV[1])
local bucket = ARGV[2]
local lease_id = ARGV[3]
local adjusted = tonumber(ARGV[4])

-- Usage that has left the window counts for nothing any more; correcting it would only
-- leave a stray field behind.
if tonumber(bucket) >= math.floor(now / BUCKET_MS) - EARLIER then
  for i = 1, adjusted do
    local value = redis.call('HINCRBY', KEYS[i], bucket, ARGV[4 + i])
    if value > 0 then
      redis.call('PEXPIRE', KEYS[i], COUNTER_TTL_MS)
    else
      -- Never below zero: a too-large refund must not free capacity others used.
      redis.call('HDEL', KEYS[i], bucket)
    end
  end
end
for i = adjusted + 1, #KEYS do
  redis.call('ZREM', KEYS[i], lease_id)
end
return 0
`;

interface Script {
  lua: string;
  sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

const ACQUIRE = script(ACQUIRE_LUA);
const SETTLE = script(SETTLE_LUA);

/** See memory-store.ts: both stores refuse what HINCRBY could not count. */
function assertWhole(what: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min)
    throw new RangeError(`${what} must be a whole number >= ${min}, got ${value}`);
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

function isNumbers(reply: unknown): reply is number[] {
  return Array.isArray(reply) && reply.every((value) => typeof value === 'number');
}

function parseAcquired(reply: unknown, checks: LimitCheck[]): Acquired {
  if (!isNumbers(reply) || reply.length !== 3 + 2 * checks.length)
    throw new Error(`Unexpected reply from the rate-limit script: ${JSON.stringify(reply)}`);
  const [taken, at, retryAfterMs] = reply as [number, number, number];
  const states: LimitState[] = checks.map(({ key, kind, limit }, i) => ({
    key,
    kind,
    limit,
    remaining: reply[3 + 2 * i] as number,
    resetMs: reply[4 + 2 * i] as number,
  }));
  if (taken === 1) return { ok: true, bucket: at, states };
  const refused = checks[at - 1];
  if (refused === undefined) throw new Error(`The rate-limit script refused check ${at}`);
  return { ok: false, refused, retryAfterMs, states };
}

/**
 * Counters shared by every instance. Each call is one Lua script, so an acquisition is one
 * atomic round trip. Counters are hashes (field = bucket id), lease sets are sorted sets
 * (score = expiry); both carry a TTL, so idle ones disappear by themselves. All keys of one
 * call go in KEYS and should share a hash tag, so a Redis Cluster can serve the call.
 */
export class RedisRateLimitStore implements RateLimitStore {
  private readonly client: Redis;
  private readonly clock: (() => number) | undefined;

  constructor(client: Redis, options: RedisRateLimitStoreOptions = {}) {
    this.client = client;
    this.clock = options.clock;
  }

  async acquire(checks: LimitCheck[], leaseId: string, leaseMs: number): Promise<Acquired> {
    const args: (string | number)[] = [this.now(), leaseId, leaseMs];
    for (const check of checks) {
      assertWhole(`limit of ${check.key}`, check.limit, 0);
      assertWhole(`amount of ${check.key}`, check.amount, 0);
      args.push(check.kind, check.limit, check.amount);
    }
    assertWhole('leaseMs', leaseMs, 1);
    const keys = checks.map((check) => check.key);
    return parseAcquired(await this.run(ACQUIRE, keys, args), checks);
  }

  /**
   * Token adjustments are not idempotent: the caller settles a request once. Lease removal
   * is by id, so repeating it never frees another request's slot.
   */
  async settle(bucket: number, settlement: Settlement, leaseId: string): Promise<void> {
    assertWhole('bucket', bucket, 0);
    const { adjustments, leases } = settlement;
    for (const { key, delta } of adjustments)
      assertWhole(`delta of ${key}`, delta, Number.MIN_SAFE_INTEGER);
    const keys = [...adjustments.map(({ key }) => key), ...leases];
    const args = [this.now(), bucket, leaseId, adjustments.length];
    args.push(...adjustments.map(({ delta }) => delta));
    await this.run(SETTLE, keys, args);
  }

  /** The client is the caller's: it may serve others, so it is left open. */
  async close(): Promise<void> {}

  private now(): string {
    return this.clock === undefined ? '' : String(Math.floor(this.clock()));
  }

  /**
   * EVALSHA, so a call sends only the hash; after a Redis restart or SCRIPT FLUSH the first
   * call costs one more round trip to send the script again.
   */
  private async run(target: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.client.evalsha(target.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return this.client.eval(target.lua, keys.length, ...keys, ...args);
    }
  }
}
