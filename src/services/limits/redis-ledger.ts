import { createHash } from 'node:crypto';
import type { RedisCommands } from '../../storage/redis.js';
import {
  type AcquireCall,
  type AcquireResult,
  assertAcquire,
  assertSync,
  BATCH_MEMORY_MS,
  type CounterGrant,
  type CounterSpec,
  type Crossing,
  type DemandOutcome,
  type Ledger,
  MAX_PREFETCH_FRACTION,
  MIN_PREFETCH_UNITS,
  PREFETCH_SPLIT,
  type SyncCall,
} from './ledger.js';

/**
 * Both scripts start alike. KEYS[1] is the batch marker (sync; a placeholder for acquire),
 * then for each counter its hash and its holds' expiry index: KEYS[2i], KEYS[2i+1]. The hash
 * holds `s` (the sum of the live holds), `u` (a quota's settled usage), `h:<id>` per hold,
 * `f:<id>` for the idle part of a hold and `p` (their sum), `r` (a quota refused once this
 * period), `t<n>` (thresholds told) and `x` (when a window or concurrent counter's keys
 * expire). ARGV[1] is the time
 * ('' = Redis TIME, so instances with skewed clocks agree), then per counter: kind, limit,
 * windowMs, expiresAt, seed, thresholds ('25,50'). Cost per counter: O(holds that expired)
 * plus O(log holds): holds are few (an instance's lease per window turn, or one per instance).
 */
/** How far past its longest hold a window or concurrent counter's keys live, at least. */
const KEEP_SLACK_MS = 30_000;

const PRELUDE = `
local FIELDS = 6
local function clock_ms(given)
  if given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local now = clock_ms(ARGV[1])
local at = 2

local function read_counters(count)
  local counters = {}
  for i = 1, count do
    counters[i] = {
      key = KEYS[2 * i], index = KEYS[2 * i + 1],
      kind = ARGV[at], limit = tonumber(ARGV[at + 1]), window = tonumber(ARGV[at + 2]) or 0,
      expires = ARGV[at + 3], seed = ARGV[at + 4], thresholds = ARGV[at + 5],
    }
    at = at + FIELDS
  end
  return counters
end

-- A field of the counter's hash as a number (absent: 0), read once per call: the fields a
-- call touches most are read together by expire(), the rest on first use; every write below
-- keeps the copy current.
local function get(c, field)
  local value = c.f[field]
  if value == nil then
    value = tonumber(redis.call('HGET', c.key, field) or '0')
    c.f[field] = value
  end
  return value
end

-- Sets the idle part of a hold, keeping 'p' their sum.
local function set_idle(c, id, idle)
  local before = get(c, 'f:' .. id)
  if idle == before then return end
  if idle > 0 then redis.call('HSET', c.key, 'f:' .. id, idle)
  else redis.call('HDEL', c.key, 'f:' .. id) end
  c.f['f:' .. id] = idle
  local p = redis.call('HINCRBY', c.key, 'p', idle - before)
  if p <= 0 then
    redis.call('HDEL', c.key, 'p')
    p = 0
  end
  c.f.p = p
end

-- Drops the holds whose time is over; returns the live sum. First reads, in one go, the
-- fields the call will want: the sum, the idle sum, this holder's hold and idle part, and
-- whether a quota's usage exists.
local function expire(c, holder)
  local v = redis.call('HMGET', c.key, 's', 'p', 'h:' .. holder, 'f:' .. holder, 'u', 'x')
  c.f = { s = tonumber(v[1] or '0'), p = tonumber(v[2] or '0'), x = tonumber(v[6] or '0') }
  c.f['h:' .. holder] = tonumber(v[3] or '0')
  c.f['f:' .. holder] = tonumber(v[4] or '0')
  c.has_u = v[5] ~= false
  local s = c.f.s
  c.stored = s
  local gone = redis.call('ZRANGEBYSCORE', c.index, '-inf', now)
  if #gone > 0 then
    for _, id in ipairs(gone) do
      local amount = get(c, 'h:' .. id)
      if amount ~= 0 then
        s = s - amount
        redis.call('HDEL', c.key, 'h:' .. id)
        c.f['h:' .. id] = 0
      end
      set_idle(c, id, 0)
    end
    redis.call('ZREMRANGEBYSCORE', c.index, '-inf', now)
    if s < 0 then s = 0 end
  end
  return s
end

-- Sets a hold to an absolute amount until 'expiry'; returns the change to the sum.
local function set_hold(c, id, amount, expiry)
  local before = get(c, 'h:' .. id)
  if amount > 0 and expiry > now then
    -- A renewal that changes nothing but the expiry writes only the expiry.
    if amount ~= before then redis.call('HSET', c.key, 'h:' .. id, amount) end
    c.f['h:' .. id] = amount
    -- A new member may have made the index anew: it needs its expiry (see keep).
    if redis.call('ZADD', c.index, expiry, id) == 1 then c.added = true end
    if c.latest == nil or expiry > c.latest then c.latest = expiry end
    return amount - before
  end
  redis.call('HDEL', c.key, 'h:' .. id)
  c.f['h:' .. id] = 0
  redis.call('ZREM', c.index, id)
  set_idle(c, id, 0)
  return -before
end

-- Idle capacity of this counter in holds other than 'own'.
local function idle_elsewhere(c, own)
  return get(c, 'p') - get(c, 'f:' .. own)
end

-- A quota's keys live as long as its period (a total quota's for ever), set when a call may
-- have made them: its usage was missing, or its index got a new member. The others' live a
-- while past their longest hold: the deadline set ('x') moves only when a hold set in this
-- call would outlive it, and then with ${KEEP_SLACK_MS} ms to spare, so most calls set no
-- expiry at all. Every call that sets a hold comes through here, so no hold outlives its keys.
local function keep(c)
  if c.kind == 'quota' then
    if c.expires ~= '' and (c.added or not c.has_u) then
      redis.call('PEXPIREAT', c.key, c.expires)
      redis.call('PEXPIREAT', c.index, c.expires)
    end
    return
  end
  if c.latest == nil then return end
  local needed = c.latest + 1000
  if not c.added and c.f.x >= needed then return end
  local deadline = needed + ${KEEP_SLACK_MS}
  redis.call('HSET', c.key, 'x', deadline)
  c.f.x = deadline
  redis.call('PEXPIREAT', c.key, deadline)
  redis.call('PEXPIREAT', c.index, deadline)
end
`;

/**
 * ARGV after the counters: holder, instances, leaseMs, holdMs, prefetch (0/1), per counter
 * the amount this instance holds, how much of it is idle and its new lease's id, the lease
 * settlements (count, then
 * counter, lease id, amount, lastUseAgoMs each), then the demands: count, and per demand the
 * number of amounts and (counter, amount) pairs.
 * Reply: {2, missing...} when quota counters are missing without a seed; else
 * {1, demands, per demand (1) or (0, counter, retryAfterMs, first refusal, reclaimable),
 * then per counter granted, remaining, resetMs}.
 */
const ACQUIRE_LUA = `${PRELUDE}
local count = (#KEYS - 1) / 2
local counters = read_counters(count)
local holder = ARGV[at]
local instances = tonumber(ARGV[at + 1])
local lease_ms = tonumber(ARGV[at + 2])
local hold_ms = tonumber(ARGV[at + 3])
local prefetch = ARGV[at + 4] == '1'
at = at + 5
for i = 1, count do
  counters[i].held = tonumber(ARGV[at])
  counters[i].idle = tonumber(ARGV[at + 1])
  counters[i].lease_id = ARGV[at + 2]
  at = at + 3
end

for _, c in ipairs(counters) do c.s = expire(c, holder) end
local settled = tonumber(ARGV[at])
at = at + 1
for _ = 1, settled do
  local c = counters[tonumber(ARGV[at]) + 1]
  c.s = c.s + set_hold(c, ARGV[at + 1], tonumber(ARGV[at + 2]), now - tonumber(ARGV[at + 3]) + c.window)
  set_idle(c, ARGV[at + 1], 0)
  at = at + 4
end

local missing = {}
for i, c in ipairs(counters) do
  c.u = 0
  if c.kind == 'quota' then
    local u = redis.call('HGET', c.key, 'u')
    if u then
      c.u = tonumber(u)
    elseif c.seed ~= '' then
      c.u = tonumber(c.seed)
      c.seeding = true
    else
      missing[#missing + 1] = i
    end
  end
  if c.kind ~= 'window' then
    -- This instance knows what it holds: a hold that expired or a reply that was lost
    -- does not change what is in use.
    c.s = c.s - get(c, 'h:' .. holder) + c.held
  end
  c.taken = 0
  c.unit = 0
end
if #missing > 0 then
  local reply = { 2 }
  for _, i in ipairs(missing) do reply[#reply + 1] = i - 1 end
  return reply
end

-- Walks the holds by expiry until enough has left for the amount; what this call took so far
-- leaves last, with the lease it is about to make.
local function window_retry(c, amount)
  if amount > c.limit then return c.window end
  local holds = redis.call('ZRANGE', c.index, 0, -1, 'WITHSCORES')
  local used, freed = c.s + c.taken, 0
  for i = 1, #holds, 2 do
    freed = freed + tonumber(redis.call('HGET', c.key, 'h:' .. holds[i]) or '0')
    if used - freed + amount <= c.limit then return math.max(1, tonumber(holds[i + 1]) - now) end
  end
  return lease_ms + c.window
end

local demands = tonumber(ARGV[at])
at = at + 1
local reply = { 1, demands }
for d = 1, demands do
  local n = tonumber(ARGV[at])
  local pairs_at = at + 1
  at = at + 1 + 2 * n
  local refused = nil
  for p = 0, n - 1 do
    local c = counters[tonumber(ARGV[pairs_at + 2 * p]) + 1]
    local amount = tonumber(ARGV[pairs_at + 2 * p + 1])
    if amount > c.unit then c.unit = amount end
    if refused == nil and c.s + c.u + c.taken + amount > c.limit then refused = { c, amount, p } end
  end
  if refused == nil then
    for p = 0, n - 1 do
      local c = counters[tonumber(ARGV[pairs_at + 2 * p]) + 1]
      c.taken = c.taken + tonumber(ARGV[pairs_at + 2 * p + 1])
    end
    reply[#reply + 1] = 1
  else
    local c, amount = refused[1], refused[2]
    local retry, first = 1000, 0
    if c.kind == 'window' then retry = window_retry(c, amount) end
    if c.kind == 'quota' then
      retry = 60000
      first = redis.call('HSETNX', c.key, 'r', 1)
    end
    local index = tonumber(ARGV[pairs_at + 2 * refused[3]])
    local reclaimable = 0
    if idle_elsewhere(c, holder) > 0 then reclaimable = 1 end
    reply[#reply + 1] = 0
    reply[#reply + 1] = index
    reply[#reply + 1] = retry
    reply[#reply + 1] = first
    reply[#reply + 1] = reclaimable
  end
end

for _, c in ipairs(counters) do
  local grant = c.taken
  if prefetch and c.taken > 0 then
    local free = c.limit - c.s - c.u - c.taken
    local share = math.floor(free / (${PREFETCH_SPLIT} * instances))
    local least = ${MIN_PREFETCH_UNITS} * c.unit
    if share >= least then
      local extra = math.min(share, math.max(least, math.floor(c.limit / ${MAX_PREFETCH_FRACTION})))
      -- Whole units: a remainder smaller than a request would sit idle where none could use it.
      if c.unit > 0 then extra = extra - (extra % c.unit) end
      grant = grant + extra
    end
  end
  if c.seeding then
    redis.call('HSET', c.key, 'u', c.u)
    for t in string.gmatch(c.thresholds, '%d+') do
      -- Thresholds the seed passed were told when that usage was counted.
      if c.u * 100 >= tonumber(t) * c.limit then redis.call('HSET', c.key, 't' .. t, 1) end
    end
  end
  if c.kind == 'window' then
    if grant > 0 then
      c.s = c.s + set_hold(c, c.lease_id, grant, now + lease_ms + c.window)
      set_idle(c, c.lease_id, grant - c.taken)
    end
  else
    -- c.s already counts c.held in place of what Redis had of this holder.
    set_hold(c, holder, c.held + grant, now + hold_ms)
    if c.held + grant > 0 then set_idle(c, holder, c.idle + grant - c.taken) end
    c.s = c.s + grant
  end
  if c.s < 0 then c.s = 0 end
  redis.call('HSET', c.key, 's', c.s)
  keep(c)
  local reset = 0
  if c.kind == 'window' then
    local last = redis.call('ZRANGE', c.index, -1, -1, 'WITHSCORES')
    if #last > 0 then reset = math.max(0, tonumber(last[2]) - now) end
  end
  reply[#reply + 1] = grant
  reply[#reply + 1] = math.max(0, c.limit - c.s - c.u)
  reply[#reply + 1] = reset
end
return reply
`;

/**
 * ARGV after the counters: holder, holdMs, batch id, then the holds (count, then counter,
 * amount and idle each), the leases (count, then counter, lease id, amount, lastUseAgoMs each) and the
 * quota usage (count, then counter and amount each).
 * Reply: {counter, threshold, used, ...} for each threshold passed for the first time.
 */
const SYNC_LUA = `${PRELUDE}
local count = (#KEYS - 1) / 2
local counters = read_counters(count)
local holder = ARGV[at]
local hold_ms = tonumber(ARGV[at + 1])
local batch = ARGV[at + 2]
at = at + 3
for _, c in ipairs(counters) do c.s = expire(c, holder) end

local holds = tonumber(ARGV[at])
at = at + 1
for _ = 1, holds do
  local c = counters[tonumber(ARGV[at]) + 1]
  c.s = c.s + set_hold(c, holder, tonumber(ARGV[at + 1]), now + hold_ms)
  if tonumber(ARGV[at + 1]) > 0 then set_idle(c, holder, tonumber(ARGV[at + 2])) end
  at = at + 3
end

local leases = tonumber(ARGV[at])
at = at + 1
for _ = 1, leases do
  local c = counters[tonumber(ARGV[at]) + 1]
  local expiry = now - tonumber(ARGV[at + 3]) + c.window
  c.s = c.s + set_hold(c, ARGV[at + 1], tonumber(ARGV[at + 2]), expiry)
  -- A settled lease hands out nothing more.
  set_idle(c, ARGV[at + 1], 0)
  at = at + 4
end

local crossed = {}
local used = tonumber(ARGV[at])
at = at + 1
-- A batch seen before (a retry whose first reply was lost) adds nothing.
if used > 0 and redis.call('SET', KEYS[1], 1, 'NX', 'PX', ${BATCH_MEMORY_MS}) then
  for _ = 1, used do
    local i = tonumber(ARGV[at]) + 1
    local c = counters[i]
    -- A counter Redis lost is rebuilt from the usage records, which hold this usage.
    if c.has_u then
      local u = redis.call('HINCRBY', c.key, 'u', ARGV[at + 1])
      for t in string.gmatch(c.thresholds, '%d+') do
        if u * 100 >= tonumber(t) * c.limit and redis.call('HSETNX', c.key, 't' .. t, 1) == 1 then
          crossed[#crossed + 1] = i - 1
          crossed[#crossed + 1] = tonumber(t)
          crossed[#crossed + 1] = u
        end
      end
    end
    at = at + 2
  end
end

for _, c in ipairs(counters) do
  if c.s < 0 then c.s = 0 end
  if c.s > 0 or redis.call('EXISTS', c.key) == 1 then
    if c.s ~= c.stored then redis.call('HSET', c.key, 's', c.s) end
    keep(c)
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
const SYNC = script(SYNC_LUA);

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

function numbers(reply: unknown): number[] {
  if (Array.isArray(reply) && reply.every((value) => typeof value === 'number')) return reply;
  throw new Error(`Unexpected reply from the ledger script: ${JSON.stringify(reply)}`);
}

/** The hash tag every key of one call shares, so a Redis Cluster serves it from one slot. */
function tagOf(counters: CounterSpec[]): string {
  const tag = /\{[^}]+\}/.exec(counters[0]?.key ?? '')?.[0];
  if (tag === undefined) throw new Error('ledger keys need a hash tag, such as {tnt_...}');
  for (const counter of counters)
    if (!counter.key.includes(tag)) throw new Error(`${counter.key} is not in ${tag}`);
  return tag;
}

function keysOf(counters: CounterSpec[], marker: string): string[] {
  return [marker, ...counters.flatMap((counter) => [counter.key, `${counter.key}:holds`])];
}

function counterArgs(counters: CounterSpec[]): (string | number)[] {
  return counters.flatMap((c) => [
    c.kind,
    c.limit,
    c.windowMs ?? '',
    c.expiresAt ?? '',
    c.seed ?? '',
    (c.thresholds ?? []).join(','),
  ]);
}

function parseAcquire(reply: number[], call: AcquireCall): AcquireResult {
  if (reply[0] === 2) return { missing: reply.slice(1) };
  const outcomes: DemandOutcome[] = [];
  let at = 2;
  for (let d = 0; d < (reply[1] ?? 0); d++) {
    if (reply[at] === 1) {
      outcomes.push({ admitted: true });
      at += 1;
      continue;
    }
    outcomes.push({
      admitted: false,
      counter: reply[at + 1] as number,
      retryAfterMs: reply[at + 2] as number,
      firstRefusal: reply[at + 3] === 1,
      reclaimable: reply[at + 4] === 1,
    });
    at += 5;
  }
  const counters: CounterGrant[] = call.counters.map((_, i) => ({
    granted: reply[at + 3 * i] as number,
    remaining: reply[at + 3 * i + 1] as number,
    resetMs: reply[at + 3 * i + 2] as number,
  }));
  if (reply.length !== at + 3 * call.counters.length)
    throw new Error(`Unexpected reply from the ledger script: ${JSON.stringify(reply)}`);
  return { outcomes, counters };
}

export interface RedisLedgerOptions {
  /** Epoch ms for tests; Redis's own TIME otherwise, so every instance reads one clock. */
  clock?: () => number;
}

/** The ledger in Redis, shared by every instance: one script call per acquire or sync. */
export class RedisLedger implements Ledger {
  constructor(
    private readonly client: RedisCommands,
    private readonly options: RedisLedgerOptions = {},
  ) {}

  async acquire(call: AcquireCall): Promise<AcquireResult> {
    assertAcquire(call);
    const tag = tagOf(call.counters);
    const args: (string | number)[] = [this.now(), ...counterArgs(call.counters)];
    args.push(call.holder, call.instances, call.leaseMs, call.holdMs, call.prefetch ? 1 : 0);
    for (const [i, held] of call.held.entries())
      args.push(held, call.idle[i] ?? 0, call.leaseIds[i] || '-');
    args.push(call.leases.length);
    for (const lease of call.leases)
      args.push(lease.counter, lease.leaseId, lease.amount, lease.lastUseAgoMs);
    args.push(call.demands.length);
    for (const demand of call.demands) {
      args.push(demand.amounts.length);
      for (const { counter, amount } of demand.amounts) args.push(counter, amount);
    }
    const keys = keysOf(call.counters, `llmb:ledger:${tag}:none`);
    return parseAcquire(numbers(await this.run(ACQUIRE, keys, args)), call);
  }

  async sync(call: SyncCall): Promise<Crossing[]> {
    assertSync(call);
    if (call.counters.length === 0) return [];
    const tag = tagOf(call.counters);
    const args: (string | number)[] = [this.now(), ...counterArgs(call.counters)];
    args.push(call.holder, call.holdMs, call.batchId, call.holds.length);
    for (const hold of call.holds) args.push(hold.counter, hold.amount, hold.idle);
    args.push(call.leases.length);
    for (const lease of call.leases)
      args.push(lease.counter, lease.leaseId, lease.amount, lease.lastUseAgoMs);
    args.push(call.used.length);
    for (const used of call.used) args.push(used.counter, used.amount);
    const keys = keysOf(call.counters, `llmb:ledger:${tag}:batch:${call.batchId}`);
    const reply = numbers(await this.run(SYNC, keys, args));
    const crossings: Crossing[] = [];
    for (let i = 0; i + 2 < reply.length; i += 3)
      crossings.push({
        counter: reply[i] as number,
        threshold: reply[i + 1] as number,
        used: reply[i + 2] as number,
      });
    return crossings;
  }

  /** The client is the process's, closed with its other connections. */
  async close(): Promise<void> {}

  private now(): string {
    return this.options.clock === undefined ? '' : String(Math.floor(this.options.clock()));
  }

  /** EVALSHA; after a Redis restart or SCRIPT FLUSH the first call sends the script again. */
  private async run(target: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.client.evalsha(target.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return this.client.eval(target.lua, keys.length, ...keys, ...args);
    }
  }
}
