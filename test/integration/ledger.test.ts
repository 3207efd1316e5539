import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  AcquireCall,
  AcquireResult,
  CounterSpec,
  Ledger,
  SyncCall,
} from '../../src/services/limits/ledger.js';
import { MemoryLedger } from '../../src/services/limits/memory-ledger.js';
import { RedisLedger } from '../../src/services/limits/redis-ledger.js';
import { openRedis, type RedisConnections } from '../../src/storage/redis.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { sharedCluster, testClusterUrl } from '../helpers/redis-cluster.js';

type Kind = 'memory' | 'redis' | 'cluster';
const redis = openRedis(TEST_REDIS_URL);
afterAll(() => redis.close());
// The same cases on a real Redis Cluster: a script or call whose keys span slots fails them.
sharedCluster();
let onCluster: RedisConnections | null = null;
afterAll(() => onCluster?.close());

function clusterCommands() {
  onCluster ??= openRedis(testClusterUrl());
  return onCluster.command;
}

const WINDOW = 60_000;
const LEASE = 1000;
const HOLD = 15_000;

/** A clock that moves only when told: the cases below sit on exact boundaries. */
function frozenClock() {
  let at = Date.now();
  return {
    now: () => at,
    skip: (ms: number) => {
      at += ms;
    },
  };
}

describe.each<Kind>(['memory', 'redis', 'cluster'])('the %s ledger', (kind) => {
  const clock = frozenClock();
  let ledger: Ledger;
  let tag: string;

  beforeEach(() => {
    tag = `{t_${randomBytes(4).toString('hex')}}`;
    ledger =
      kind === 'memory'
        ? new MemoryLedger({ clock: clock.now })
        : new RedisLedger(kind === 'redis' ? redis.command : clusterCommands(), {
            clock: clock.now,
          });
  });
  afterEach(async () => {
    await ledger.close();
    // A cluster's keys go with it; KEYS would ask one node only.
    if (kind === 'redis') {
      const keys = await redis.command.keys(`llmb:test:*${tag}*`);
      if (keys.length > 0) await redis.command.del(...keys);
    }
  });

  const window = (limit: number, name = 'rpm'): CounterSpec => ({
    key: `llmb:test:${tag}:${name}`,
    kind: 'window',
    limit,
    windowMs: WINDOW,
  });
  const concurrent = (limit: number): CounterSpec => ({
    key: `llmb:test:${tag}:conc`,
    kind: 'concurrent',
    limit,
  });
  const quota = (limit: number, extra: Partial<CounterSpec> = {}): CounterSpec => ({
    key: `llmb:test:${tag}:quota`,
    kind: 'quota',
    limit,
    ...extra,
  });

  let leases = 0;
  const lastLease = () => `lse_${leases}`;
  function acquire(
    counters: CounterSpec[],
    demands: number[][],
    extra: Partial<AcquireCall> = {},
  ): Promise<AcquireResult> {
    return ledger.acquire({
      counters,
      holder: 'inst-a',
      instances: 1,
      leaseMs: LEASE,
      holdMs: HOLD,
      held: counters.map(() => 0),
      idle: counters.map(() => 0),
      leaseIds: counters.map((c) => (c.kind === 'window' ? `lse_${++leases}` : '')),
      leases: [],
      demands: demands.map((amounts) => ({
        amounts: amounts.flatMap((amount, counter) => (amount !== 0 ? [{ counter, amount }] : [])),
      })),
      prefetch: false,
      ...extra,
    });
  }
  function sync(counters: CounterSpec[], extra: Partial<SyncCall>) {
    return ledger.sync({
      counters,
      holder: 'inst-a',
      holdMs: HOLD,
      holds: [],
      leases: [],
      used: [],
      batchId: `bat_${randomBytes(4).toString('hex')}`,
      ...extra,
    });
  }
  const admitted = (result: AcquireResult) =>
    'outcomes' in result && result.outcomes ? result.outcomes.map((o) => o.admitted) : [];
  const granted = (result: AcquireResult, counter = 0) =>
    'counters' in result ? result.counters?.[counter]?.granted : undefined;

  it('admits demands in order while they fit, then refuses with when enough frees', async () => {
    const rpm = window(3);
    const result = await acquire([rpm], [[1], [1], [1], [1]]);
    expect(admitted(result)).toEqual([true, true, true, false]);
    expect(granted(result)).toBe(3);
    const refusal = 'outcomes' in result ? result.outcomes?.[3] : undefined;
    expect(refusal).toMatchObject({ admitted: false, counter: 0, firstRefusal: false });
    // The lease counts a whole window after its lease ends, not a moment less.
    expect(refusal && !refusal.admitted && refusal.retryAfterMs).toBe(LEASE + WINDOW);
    clock.skip(LEASE + WINDOW - 1);
    expect(admitted(await acquire([rpm], [[1]]))).toEqual([false]);
    clock.skip(1);
    expect(admitted(await acquire([rpm], [[1], [1], [1]]))).toEqual([true, true, true]);
  });

  it('refuses a request whole: one counter short takes nothing from the others', async () => {
    const rpm = window(10);
    const tpm = window(100, 'tpm');
    const result = await acquire(
      [rpm, tpm],
      [
        [1, 60],
        [1, 60],
        [1, 30],
      ],
    );
    expect(admitted(result)).toEqual([true, false, true]);
    expect(granted(result, 0)).toBe(2);
    expect(granted(result, 1)).toBe(90);
    const refusal = 'outcomes' in result ? result.outcomes?.[1] : undefined;
    expect(refusal).toMatchObject({ admitted: false, counter: 1 });
  });

  it('takes ahead where plenty is left, and nothing ahead near the limit', async () => {
    const rpm = window(1000);
    const first = await acquire([rpm], [[1]], { prefetch: true, instances: 2 });
    // A quarter of what is left per instance, at most a sixteenth of the limit.
    expect(granted(first)).toBe(1 + 62);
    const small = window(10, 'small');
    const near = await acquire([small], [[1]], { prefetch: true, instances: 2 });
    expect(granted(near)).toBe(1);
  });

  it('gives back what a lease did not hand out, and counts what it did only a window on', async () => {
    const rpm = window(5);
    const result = await acquire([rpm], [[1]], { prefetch: false });
    expect(granted(result)).toBe(1);
    const first = lastLease();
    const more = await acquire([rpm], [[4]]);
    expect(admitted(more)).toEqual([true]);
    const second = lastLease();
    expect(admitted(await acquire([rpm], [[1]]))).toEqual([false]);
    // The second lease handed out 1 of its 4, last 100 ms ago; the first lease nothing.
    await sync([rpm], {
      leases: [
        { counter: 0, leaseId: first, amount: 0, lastUseAgoMs: 0 },
        { counter: 0, leaseId: second, amount: 1, lastUseAgoMs: 100 },
      ],
    });
    const after = await acquire([rpm], [[1], [1], [1], [1], [1]]);
    expect(admitted(after)).toEqual([true, true, true, true, false]);
    clock.skip(WINDOW - 100);
    // The one unit left the window; the four just taken are still in it.
    expect(admitted(await acquire([rpm], [[1], [1]]))).toEqual([true, false]);
    // A settlement repeated changes nothing: amounts are absolute.
    const latest = { counter: 0, leaseId: lastLease(), amount: 1, lastUseAgoMs: 0 };
    await sync([rpm], { leases: [latest] });
    await sync([rpm], { leases: [latest] });
    expect(admitted(await acquire([rpm], [[1]]))).toEqual([false]);
  });

  it('settles the leases an acquire carries before it judges the demands', async () => {
    const rpm = window(3);
    await acquire([rpm], [[3]]);
    const full = lastLease();
    expect(admitted(await acquire([rpm], [[1]]))).toEqual([false]);
    const result = await acquire([rpm], [[1], [1]], {
      leases: [{ counter: 0, leaseId: full, amount: 1, lastUseAgoMs: 0 }],
    });
    expect(admitted(result)).toEqual([true, true]);
  });

  it('counts a lease it never saw (served while it was away) from when it was used', async () => {
    const rpm = window(3);
    await sync([rpm], {
      leases: [{ counter: 0, leaseId: 'lse_forced', amount: 2, lastUseAgoMs: WINDOW - 1000 }],
    });
    expect(admitted(await acquire([rpm], [[1], [1]]))).toEqual([true, false]);
    clock.skip(1000);
    expect(admitted(await acquire([rpm], [[1], [1], [1]]))).toEqual([true, true, false]);
  });

  it('holds concurrent slots per instance, at the amount the instance says it holds', async () => {
    const conc = concurrent(3);
    expect(admitted(await acquire([conc], [[1], [1]]))).toEqual([true, true]);
    const other = await acquire([conc], [[1], [1]], { holder: 'inst-b' });
    expect(admitted(other)).toEqual([true, false]);
    // Instance a's answer was lost; it still holds two, and says so: nothing counts twice.
    const again = await acquire([conc], [[1]], { held: [2] });
    expect(admitted(again)).toEqual([false]);
    // Instance a lets one go (absolute amount), b's request now fits.
    await sync([conc], { holds: [{ counter: 0, amount: 1, idle: 0 }] });
    expect(admitted(await acquire([conc], [[1]], { holder: 'inst-b', held: [1] }))).toEqual([true]);
  });

  it("frees an instance's slots by themselves when it stops renewing them", async () => {
    const conc = concurrent(2);
    expect(admitted(await acquire([conc], [[1], [1]]))).toEqual([true, true]);
    clock.skip(HOLD - 1);
    await sync([conc], { holder: 'inst-b', holds: [] });
    expect(admitted(await acquire([conc], [[1]], { holder: 'inst-b' }))).toEqual([false]);
    clock.skip(1);
    expect(admitted(await acquire([conc], [[1], [1]], { holder: 'inst-b' }))).toEqual([true, true]);
  });

  it('tells a refused request when other holds have capacity idle, and when they gave it back', async () => {
    const conc = concurrent(4);
    // Instance a takes 1 and holds 2 more idle; b takes the last one.
    await acquire([conc], [[1]], { idle: [0] });
    await sync([conc], { holds: [{ counter: 0, amount: 3, idle: 2 }] });
    await acquire([conc], [[1]], { holder: 'inst-b' });
    const refused = await acquire([conc], [[1]], { holder: 'inst-b', held: [1] });
    expect('outcomes' in refused && refused.outcomes?.[0]).toMatchObject({
      admitted: false,
      reclaimable: true,
    });
    await sync([conc], { holds: [{ counter: 0, amount: 1, idle: 0 }] });
    const admittedNow = await acquire([conc], [[1], [1], [1]], { holder: 'inst-b', held: [1] });
    expect(admitted(admittedNow)).toEqual([true, true, false]);
    const last = 'outcomes' in admittedNow ? admittedNow.outcomes?.[2] : undefined;
    expect(last).toMatchObject({ admitted: false, reclaimable: false });
  });

  it('renews a hold at every sync', async () => {
    const conc = concurrent(1);
    await acquire([conc], [[1]]);
    clock.skip(HOLD - 1);
    await sync([conc], { holds: [{ counter: 0, amount: 1, idle: 0 }] });
    clock.skip(HOLD - 1);
    expect(admitted(await acquire([conc], [[1]], { holder: 'inst-b' }))).toEqual([false]);
  });

  it('reports a missing quota counter, then starts it from its seed', async () => {
    const q = quota(100, { thresholds: [50, 80] });
    expect(await acquire([q], [[10]])).toEqual({ missing: [0] });
    const seeded = await acquire([{ ...q, seed: 60 }], [[30], [20]]);
    expect(admitted(seeded)).toEqual([true, false]);
    // 50 was passed by usage counted before: it is not told again.
    const crossings = await sync([q], {
      holds: [{ counter: 0, amount: 0, idle: 0 }],
      used: [{ counter: 0, amount: 25 }],
    });
    expect(crossings).toEqual([{ counter: 0, threshold: 80, used: 85 }]);
  });

  it('adds settled usage once per batch, and tells each threshold once', async () => {
    const q = quota(100, { seed: 0, thresholds: [50] });
    await acquire([q], [[10]]);
    const batch = { used: [{ counter: 0, amount: 60 }], batchId: 'bat_same', holds: [] };
    expect(await sync([q], batch)).toEqual([{ counter: 0, threshold: 50, used: 60 }]);
    expect(await sync([q], batch)).toEqual([]);
    expect(await sync([q], { used: [{ counter: 0, amount: 10 }] })).toEqual([]);
    // 70 used, the hold of 10 dropped: 30 left.
    const left = await acquire([q], [[30], [1]]);
    expect(admitted(left)).toEqual([true, false]);
  });

  it('says a quota refused for the first time in its period, once', async () => {
    const q = quota(10, { seed: 10 });
    const first = await acquire([q], [[1]]);
    const second = await acquire([q], [[1]]);
    const flag = (r: AcquireResult) =>
      'outcomes' in r && r.outcomes?.[0] && !r.outcomes[0].admitted && r.outcomes[0].firstRefusal;
    expect([flag(first), flag(second)]).toEqual([true, false]);
  });

  it('drops settled usage for a quota counter it lost: the records hold it', async () => {
    const q = quota(100);
    expect(await sync([q], { used: [{ counter: 0, amount: 5 }] })).toEqual([]);
    expect(await acquire([q], [[1]])).toEqual({ missing: [0] });
  });

  it('refuses malformed input before touching anything', async () => {
    await expect(acquire([window(1.5)], [[1]])).rejects.toThrow(RangeError);
    await expect(acquire([window(5)], [[-1]])).rejects.toThrow(RangeError);
    await expect(sync([window(5)], { used: [{ counter: 3, amount: 1 }] })).rejects.toThrow(
      RangeError,
    );
  });
});
