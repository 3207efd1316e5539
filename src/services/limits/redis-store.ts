import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  type Acquired,
  assertCheck,
  assertSettlement,
  assertWhole,
  BUCKET_MS,
  BUCKETS_PER_CHECK,
  type Crossing,
  type LimitCheck,
  type LimitState,
  type QuotaAdjustment,
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
/** ARGV entries per check: kind, limit, amount, seed, expiry, thresholds. */
const FIELDS_PER_CHECK = 6;

/** Shared by both scripts: constants and the clock. */
const PRELUDE = `
local BUCKET_MS = ${BUCKET_MS}
local WINDOW_MS = ${WINDOW_MS}
-- Buckets before the current one that a check still sums (the window's 60).
local EARLIER = ${BUCKETS_PER_CHECK - 1}
local COUNTER_TTL_MS = ${COUNTER_TTL_MS}
local LEASE_MARGIN_MS = ${LEASE_MARGIN_MS}
local FIELDS_PER_CHECK = ${FIELDS_PER_CHECK}

-- Tests pass a clock in ARGV[1]; otherwise every instance reads this one Redis clock.
local function clock_ms(given)
  if given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * KEYS: one per check. ARGV: now ('' = Redis TIME), lease id, lease ms, then for each check
 * its kind, limit, amount, and for quotas seed, expiry (epoch ms) and thresholds ('25,50').
 * Reply: {1, bucket, 0, 0, remaining, resetMs, ...} when taken,
 *        {0, index of the first refused check (1-based), retryAfterMs, first refusal (0/1),
 *         remaining, resetMs, ...} when not,
 *        {2, count, index, ...} when quota counters are missing and came without a seed.
 * Nothing is counted unless every check fits (a seed given for a missing quota counter is
 * written either way: it is the counter's state, not this request's usage). Cost:
 * O(checks x 61) plus O(log n) per lease set.
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

-- A quota counter is a hash: 'used', and a field per threshold already reported.
-- A missing one starts at its seed; without a seed it is reported, not guessed.
local function judge_quota(key, limit, amount, seed)
  local used = redis.call('HGET', key, 'used')
  local seeding = false
  if not used then
    if seed == '' then return { missing = true } end
    used, seeding = tonumber(seed), true
  else
    used = tonumber(used)
  end
  local fits = used + amount <= limit
  local retry = 0
  if not fits then retry = WINDOW_MS end
  return { fits = fits, retry = retry, used = used, seeding = seeding }
end

-- Thresholds the seed has passed already count as reported: they belong to usage counted
-- before the counter was lost, whose events went out then.
local function write_seed(key, check)
  redis.call('HSET', key, 'used', check.found.used)
  for t in string.gmatch(check.thresholds, '%d+') do
    if check.found.used * 100 >= tonumber(t) * check.limit then redis.call('HSET', key, 't' .. t, 1) end
  end
end

-- What the caller sees: after this request when taken, as things stand otherwise.
local function state_of(kind, limit, amount, found, taken)
  if kind == 'quota' then
    if taken then return math.max(0, limit - found.used - amount), 0 end
    return math.max(0, limit - found.used), 0
  end
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

local checks, refused, retry_after, missing = {}, 0, 0, {}
for i, key in ipairs(KEYS) do
  local at = 3 + (i - 1) * FIELDS_PER_CHECK
  local check = {
    kind = ARGV[at + 1],
    limit = tonumber(ARGV[at + 2]),
    amount = tonumber(ARGV[at + 3]),
    expires = ARGV[at + 5],
    thresholds = ARGV[at + 6],
  }
  if check.kind == 'concurrent' then
    check.found = judge_leases(key, check.limit)
  elseif check.kind == 'quota' then
    check.found = judge_quota(key, check.limit, check.amount, ARGV[at + 4])
  else
    check.found = judge_window(key, check.limit, check.amount)
  end
  if check.found.missing then
    missing[#missing + 1] = i
  elseif refused == 0 and not check.found.fits then
    refused, retry_after = i, check.found.retry
  end
  checks[i] = check
end

if #missing > 0 then
  local reply = { 2, #missing }
  for _, i in ipairs(missing) do reply[#reply + 1] = i end
  return reply
end

for i, check in ipairs(checks) do
  if check.found.seeding then write_seed(KEYS[i], check) end
end

local taken = refused == 0
local reply = { 1, current, 0, 0 }
if not taken then
  local first = 0
  if checks[refused].kind == 'quota' then first = redis.call('HSETNX', KEYS[refused], 'refused', 1) end
  reply = { 0, refused, retry_after, first }
end
for i, check in ipairs(checks) do
  local remaining, reset = state_of(check.kind, check.limit, check.amount, check.found, taken)
  reply[#reply + 1] = remaining
  reply[#reply + 1] = reset
  if taken then
    if check.kind == 'concurrent' then
      take_lease(KEYS[i])
    elseif check.kind == 'quota' then
      if check.amount > 0 then redis.call('HINCRBY', KEYS[i], 'used', check.amount) end
    else
      take_window(KEYS[i], check.amount, check.found.stale)
    end
  end
end
-- Last, so that a counter written above never outlives its period.
for i, check in ipairs(checks) do
  if check.kind == 'quota' and check.expires ~= '' and (taken or check.found.seeding) then
    redis.call('PEXPIREAT', KEYS[i], check.expires)
  end
end
return reply
`;

/**
 * KEYS: the adjusted counters, the lease sets, then the quota counters. ARGV: now
 * ('' = Redis TIME), bucket, lease id, number of adjustments, number of leases, each
 * adjustment's delta, then each quota's delta, limit and thresholds ('25,50').
 * Reply: {quota index (1-based), threshold, used, ...} for each threshold passed first now.
 */
const SETTLE_LUA = `${PRELUDE}
local now = clock_ms(ARGV[1])
local bucket = ARGV[2]
local lease_id = ARGV[3]
local adjusted = tonumber(ARGV[4])
local leased = tonumber(ARGV[5])

-- Usage that has left the window counts for nothing any more; correcting it would only
-- leave a stray field behind.
if tonumber(bucket) >= math.floor(now / BUCKET_MS) - EARLIER then
  for i = 1, adjusted do
    local value = redis.call('HINCRBY', KEYS[i], bucket, ARGV[5 + i])
    if value > 0 then
      redis.call('PEXPIRE', KEYS[i], COUNTER_TTL_MS)
    else
      -- Never below zero: a too-large refund must not free capacity others used.
      redis.call('HDEL', KEYS[i], bucket)
    end
  end
end
for i = adjusted + 1, adjusted + leased do
  redis.call('ZREM', KEYS[i], lease_id)
end

local crossed = {}
local first_quota = adjusted + leased
for q = 1, #KEYS - first_quota do
  local key = KEYS[first_quota + q]
  local at = 5 + adjusted + (q - 1) * 3
  -- A counter gone meanwhile is rebuilt from the usage records, which hold this usage.
  if redis.call('EXISTS', key) == 1 then
    local used = redis.call('HINCRBY', key, 'used', ARGV[at + 1])
    if used < 0 then
      used = 0
      redis.call('HSET', key, 'used', 0)
    end
    local limit = tonumber(ARGV[at + 2])
    for t in string.gmatch(ARGV[at + 3], '%d+') do
      if used * 100 >= tonumber(t) * limit and redis.call('HSETNX', key, 't' .. t, 1) == 1 then
        crossed[#crossed + 1] = q
        crossed[#crossed + 1] = tonumber(t)
        crossed[#crossed + 1] = used
      end
    end
  end
end
return crossed
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

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

function isNumbers(reply: unknown): reply is number[] {
  return Array.isArray(reply) && reply.every((value) => typeof value === 'number');
}

function unexpected(reply: unknown): Error {
  return new Error(`Unexpected reply from the rate-limit script: ${JSON.stringify(reply)}`);
}

function parseAcquired(reply: unknown, checks: LimitCheck[]): Acquired {
  if (!isNumbers(reply)) throw unexpected(reply);
  if (reply[0] === 2) {
    const unseeded = reply.slice(2).map((index) => checks[index - 1]);
    if (unseeded.some((check) => check === undefined)) throw unexpected(reply);
    return { ok: false, refused: null, unseeded: unseeded as LimitCheck[], states: [] };
  }
  if (reply.length !== 4 + 2 * checks.length) throw unexpected(reply);
  const [taken, at, retryAfterMs, first] = reply as [number, number, number, number];
  const states: LimitState[] = checks.map(({ key, kind, limit }, i) => ({
    key,
    kind,
    limit,
    remaining: reply[4 + 2 * i] as number,
    resetMs: reply[5 + 2 * i] as number,
  }));
  if (taken === 1) return { ok: true, bucket: at, states };
  const refused = checks[at - 1];
  if (refused === undefined) throw new Error(`The rate-limit script refused check ${at}`);
  return { ok: false, refused, retryAfterMs, states, firstRefusal: first === 1 };
}

function parseCrossings(reply: unknown, quotas: QuotaAdjustment[]): Crossing[] {
  if (!isNumbers(reply) || reply.length % 3 !== 0) throw unexpected(reply);
  const crossings: Crossing[] = [];
  for (let i = 0; i < reply.length; i += 3) {
    const quota = quotas[(reply[i] as number) - 1];
    if (quota === undefined) throw unexpected(reply);
    crossings.push({
      key: quota.key,
      threshold: reply[i + 1] as number,
      used: reply[i + 2] as number,
    });
  }
  return crossings;
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
      assertCheck(check);
      args.push(
        check.kind,
        check.limit,
        check.amount,
        check.seed ?? '',
        check.expiresAt ?? '',
        (check.thresholds ?? []).join(','),
      );
    }
    assertWhole('leaseMs', leaseMs, 1);
    const keys = checks.map((check) => check.key);
    return parseAcquired(await this.run(ACQUIRE, keys, args), checks);
  }

  /**
   * Token adjustments are not idempotent: the caller settles a request once. Lease removal
   * is by id, so repeating it never frees another request's slot.
   */
  async settle(bucket: number, settlement: Settlement, leaseId: string): Promise<Crossing[]> {
    assertSettlement(bucket, settlement);
    const { adjustments, leases, quotas = [] } = settlement;
    const keys = [...adjustments.map(({ key }) => key), ...leases, ...quotas.map(({ key }) => key)];
    const args: (string | number)[] = [
      this.now(),
      bucket,
      leaseId,
      adjustments.length,
      leases.length,
    ];
    args.push(...adjustments.map(({ delta }) => delta));
    for (const quota of quotas) args.push(quota.delta, quota.limit, quota.thresholds.join(','));
    return parseCrossings(await this.run(SETTLE, keys, args), quotas);
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
