import { DeadlineExceeded, withDeadline } from '../../utils/deadline.js';
import { newId } from '../../utils/ids.js';
import type { AcquireCall, AcquireResult, CounterSpec, Crossing, Ledger } from './ledger.js';
import { type LeaseChange, Pool, type PoolState, type Take } from './pool.js';

/** One limit a request must fit: a counter and what the request takes of it. */
export interface Check {
  spec: CounterSpec;
  amount: number;
}

/** What was taken for one admitted request; give it back with `release`. */
export interface Ticket {
  readonly takes: readonly { pool: Pool; take: Take }[];
}

export type Decision =
  | { kind: 'admitted'; ticket: Ticket; states: PoolState[] }
  | {
      kind: 'refused';
      /** Index of the check the request did not fit. */
      check: number;
      retryAfterMs: number;
      firstRefusal: boolean;
      states: PoolState[];
    }
  /** Quota counters the ledger does not have: seed them from the usage records and retry. */
  | { kind: 'missing'; checks: number[] }
  /** The ledger did not answer (or failed): the caller applies its failure policy. */
  | { kind: 'unavailable'; error: unknown };

export interface AdmissionsOptions {
  ledger: Ledger;
  /** This instance's name in the ledger, unique per process. */
  holder: string;
  /** How many instances share the ledger, this one included. */
  instances: () => number;
  /** How long a window lease hands out units. */
  leaseMs: number;
  /** How long a concurrent or quota hold lives unless renewed; renewed at a third of it. */
  holdMs: number;
  /** How long idle capacity is kept for this instance's next requests before it goes back. */
  idleMs: number;
  /** The longest a ledger call may take before the caller's failure policy decides. */
  timeoutMs: number;
  /** A ledger call that failed, or one that stalled (answered late or never). */
  onError: (error: unknown) => void;
  /** Quota thresholds passed, per counter. */
  onCrossing: (spec: CounterSpec, crossing: Crossing) => void;
  /**
   * Where instances ask each other for idle capacity back (a counter's key), and hear it:
   * every instance, this one included.
   */
  reclaim: {
    publish(key: string): Promise<void>;
    subscribe(listener: (key: string) => void): void;
  };
  clock?: () => number;
}

interface Waiting {
  checks: Check[];
  resolve: (decision: Decision) => void;
  /** Until when it may wait for capacity idle elsewhere to come back (null: not waiting). */
  reclaimUntil: number | null;
}

/** A waiting request in a ledger call: what it asks of the ledger, what it took locally. */
interface Plan {
  amounts: { counter: number; amount: number }[];
  /** By check index. */
  local: Map<number, { pool: Pool; take: Take }>;
}

/** Everything of one hash tag (one tenant): its pools, and one ledger call at a time. */
interface Tag {
  name: string;
  pools: Map<string, Pool>;
  waiting: Waiting[];
  /** Calls of one tag go one at a time: they set this instance's holds to absolute amounts. */
  busy: boolean;
  /** A call outlived its deadline: until it settles, requests are decided without the ledger. */
  stalled: boolean;
  flushScheduled: boolean;
  /** When the last sync was sent: upkeep waits out SYNC_DELAY_MS after it. */
  syncedAt: number;
  /** Another instance asked for capacity back: the next upkeep syncs without waiting. */
  urgent: boolean;
  timer: NodeJS.Timeout | null;
  timerAt: number;
  /** Quota usage being told, retried under the same batch id until it lands. */
  outbox: { batchId: string; used: { key: string; amount: number }[] } | null;
}

/**
 * Corrections, returns, ended leases and settled usage are told this soon after the event,
 * together, and a tenant's upkeep syncs at most once per this interval, however many requests
 * end in it: a sync renews every live hold of the tenant (a dozen counters with limits on
 * tenant, user and key), so its cost in Redis is per call, not per request. Only capacity
 * another instance asks back goes at once.
 */
const SYNC_DELAY_MS = 250;
/** Back-off before a failed sync is tried again. */
const RETRY_SYNC_MS = 1000;
/** A stalled call not settled by then is given up: later calls follow it on the connection. */
const GIVE_UP_MS = 10_000;
/**
 * A request refused while other instances hold idle capacity of the counter asks for it
 * back and tries again this much later, for as long as the patience lasts: past a lease's
 * length, so a lease nobody gives back early has ended and gone back by then.
 */
const RECLAIM_WAIT_MS = 15;
const RECLAIM_PATIENCE_MS = 2_000;
/** Asking again for the same counter sooner than this adds nothing. */
const RECLAIM_ASK_MS = 10;

const tagOf = (key: string): string => /\{[^}]+\}/.exec(key)?.[0] ?? key;

/**
 * Admits requests against the ledger without a round trip once warm: each instance holds
 * capacity of each counter ahead of its requests and takes from it locally; only a request
 * that finds a counter short waits for the ledger, together with every other request of its
 * tenant waiting at that moment (one call for all of them). What an instance does not use
 * goes back when its lease ends (or its hold idles); what it holds of concurrent and quota
 * counters is renewed while in use and frees itself within `holdMs` should the instance die.
 */
export class Admissions {
  private readonly tags = new Map<string, Tag>();
  /** When each counter's idle capacity was last asked back. */
  private readonly asked = new Map<string, number>();
  private readonly clock: () => number;
  private closing = false;

  constructor(private readonly options: AdmissionsOptions) {
    this.clock = options.clock ?? Date.now;
    options.reclaim.subscribe((key) => this.giveBack(key));
  }

  admit(checks: Check[]): Promise<Decision> {
    const now = this.clock();
    const tag = this.tagFor(checks);
    const pools = checks.map((check) => this.poolFor(tag, check.spec));
    if (checks.every((check, i) => (pools[i] as Pool).available(check.amount, now)))
      return Promise.resolve(this.takeAll(checks, pools, now));
    if (tag.stalled)
      return Promise.resolve({ kind: 'unavailable', error: new Error('the ledger is stalled') });
    return new Promise((resolve) => {
      tag.waiting.push({ checks, resolve, reclaimUntil: null });
      this.scheduleFlush(tag);
    });
  }

  /**
   * Admits without the ledger (its failure policy says serve): counted here and told to the
   * ledger once it answers, so the counters catch up with what was served.
   */
  admitUnchecked(checks: Check[]): Ticket {
    const now = this.clock();
    const tag = this.tagFor(checks);
    const takes = checks.map((check) => {
      const pool = this.poolFor(tag, check.spec);
      return { pool, take: pool.force(check.amount, now) };
    });
    this.wake(tag, now + SYNC_DELAY_MS, now);
    return { takes };
  }

  /**
   * The request is over: `actual[i]` is what it really used of check i (null: a failed call
   * that used nothing). Concurrent slots go back to this instance's hold at once.
   */
  release(ticket: Ticket, actual: readonly (number | null)[] | null): void {
    const now = this.clock();
    ticket.takes.forEach(({ pool, take }, i) => {
      pool.release(take, actual === null ? 0 : (actual[i] ?? take.amount));
    });
    const first = ticket.takes[0];
    if (first === undefined) return;
    const tag = this.tags.get(tagOf(first.pool.spec.key));
    if (tag !== undefined) this.wake(tag, now + SYNC_DELAY_MS, now);
  }

  /**
   * Another instance wants capacity of this counter: what this one holds idle of it goes back
   * now (a lease ends, spare slots are let go), told to the ledger at once.
   */
  private giveBack(key: string): void {
    const tag = this.tags.get(tagOf(key));
    const pool = tag?.pools.get(key);
    if (tag === undefined || pool === undefined) return;
    const now = this.clock();
    pool.letIdleGo(now);
    tag.urgent = true;
    this.wake(tag, now, now);
  }

  /** Gives back everything this instance holds and tells the ledger what was used. */
  async close(): Promise<void> {
    this.closing = true;
    const now = this.clock();
    for (const tag of this.tags.values()) {
      if (tag.timer !== null) clearTimeout(tag.timer);
      tag.timer = null;
      for (const pool of tag.pools.values()) pool.finish(now);
      await this.sync(tag).catch((error: unknown) => this.options.onError(error));
    }
  }

  private tagFor(checks: Check[]): Tag {
    const name = tagOf(checks[0]?.spec.key ?? '');
    let tag = this.tags.get(name);
    if (tag === undefined) {
      tag = {
        name,
        pools: new Map(),
        waiting: [],
        busy: false,
        stalled: false,
        flushScheduled: false,
        syncedAt: Number.NEGATIVE_INFINITY,
        urgent: false,
        timer: null,
        timerAt: Number.POSITIVE_INFINITY,
        outbox: null,
      };
      this.tags.set(name, tag);
    }
    return tag;
  }

  private poolFor(tag: Tag, spec: CounterSpec): Pool {
    let pool = tag.pools.get(spec.key);
    if (pool === undefined) {
      pool = new Pool(spec, this.options.leaseMs, () => newId('lse'));
      tag.pools.set(spec.key, pool);
    } else pool.spec = spec;
    return pool;
  }

  private takeAll(checks: Check[], pools: Pool[], now: number): Decision {
    const takes = checks.map((check, i) => {
      const pool = pools[i] as Pool;
      return { pool, take: pool.take(check.amount, now) };
    });
    return { kind: 'admitted', ticket: { takes }, states: pools.map((pool) => pool.state(now)) };
  }

  private scheduleFlush(tag: Tag): void {
    if (tag.flushScheduled || tag.busy) return;
    tag.flushScheduled = true;
    // Requests arriving in this turn of the event loop share the call.
    setImmediate(() => {
      tag.flushScheduled = false;
      void this.flush(tag);
    });
  }

  /** One ledger call for every request of the tag waiting now. */
  private async flush(tag: Tag): Promise<void> {
    if (tag.busy || tag.waiting.length === 0) return;
    // Quota usage settled here goes first: thresholds it passed are told before a refusal
    // of the same quota, and the ledger judges with it.
    if (tag.outbox !== null || [...tag.pools.values()].some((pool) => pool.settling > 0)) {
      await this.sync(tag).catch((error: unknown) => this.options.onError(error));
      if (tag.busy) return;
    }
    const batch = tag.waiting.splice(0);
    const specs = new Map<string, CounterSpec>();
    // A request retried with seeds for missing quota counters may share the call with others
    // still without: the seeded spec stands for the counter, or every one of them would be
    // told again that it is missing.
    for (const waiting of batch)
      for (const { spec } of waiting.checks)
        if (specs.get(spec.key)?.seed === undefined) specs.set(spec.key, spec);
    const pools = [...specs.values()].map((spec) => this.poolFor(tag, spec));
    const index = new Map(pools.map((pool, i) => [pool.spec.key, i]));
    const sentAt = this.clock();
    const plans = this.plan(batch, pools, index, sentAt);
    // Leases asked to cover more end rather than wait beside the new ones: what they did not
    // hand out goes back in this call, with every correction since, before the demands are
    // judged.
    const leases = pools.map((pool) => pool.leaseChanges(sentAt));
    const call: AcquireCall = {
      counters: pools.map((pool) => pool.spec),
      holder: this.options.holder,
      instances: Math.max(1, this.options.instances()),
      leaseMs: this.options.leaseMs,
      holdMs: this.options.holdMs,
      held: pools.map((pool) => (pool.live ? pool.held : 0)),
      idle: pools.map((pool) => (pool.live ? Math.max(0, pool.free(sentAt)) : 0)),
      leaseIds: pools.map((pool) => (pool.live ? '' : newId('lse'))),
      leases: leases.flatMap((changes, counter) => changes.map((lease) => ({ counter, ...lease }))),
      demands: plans.map(({ amounts }) => ({ amounts })),
      prefetch: !this.closing,
    };
    tag.busy = true;
    const sent = this.options.ledger.acquire(call);
    try {
      const result = await withDeadline(sent, this.options.timeoutMs);
      this.decide(tag, batch, plans, pools, call, result, { at: sentAt, leases });
    } catch (error) {
      this.unplan(plans);
      for (const waiting of batch) waiting.resolve({ kind: 'unavailable', error });
      this.options.onError(error);
      // Whatever the ledger made of this call, the next sync sets it right: its leases to
      // nothing, this instance's holds to what it really has.
      this.forget(pools, call, sentAt);
      if (error instanceof DeadlineExceeded) {
        // Until the call settles (Redis may still run it), this tag decides without the
        // ledger rather than queue its requests behind the stalled call: those waiting now
        // too.
        tag.stalled = true;
        for (const waiting of tag.waiting.splice(0))
          waiting.resolve({ kind: 'unavailable', error });
        await withDeadline(sent, GIVE_UP_MS).catch(() => {});
        tag.stalled = false;
      }
    } finally {
      tag.busy = false;
      this.wake(tag, this.clock(), this.clock());
      if (tag.waiting.length > 0) this.scheduleFlush(tag);
    }
  }

  /**
   * What each waiting request asks of the ledger: only what this instance cannot hand out
   * itself. What it can is taken now, so a request arriving meanwhile cannot take it too:
   * idle concurrent and quota units go to the first requests that need them; a window lease
   * either covers every request's share of it, or ends and the ledger is asked for all of it.
   */
  private plan(batch: Waiting[], pools: Pool[], index: Map<string, number>, now: number): Plan[] {
    const wanted = new Map<Pool, number>();
    for (const { checks } of batch)
      for (const { spec, amount } of checks) {
        const pool = pools[index.get(spec.key) as number] as Pool;
        wanted.set(pool, (wanted.get(pool) ?? 0) + amount);
      }
    for (const [pool, total] of wanted)
      if (!pool.live && !pool.available(total, now)) pool.endLease(now);
    return batch.map(({ checks }) => {
      const plan: Plan = { amounts: [], local: new Map() };
      checks.forEach(({ spec, amount }, i) => {
        const counter = index.get(spec.key) as number;
        const pool = pools[counter] as Pool;
        if (amount > 0 && pool.available(amount, now))
          plan.local.set(i, { pool, take: pool.take(amount, now) });
        else plan.amounts.push({ counter, amount });
      });
      return plan;
    });
  }

  /** Gives back what a plan took locally, for a request the ledger did not admit. */
  private unplan(plans: Plan[]): void {
    for (const plan of plans) for (const { pool, take } of plan.local.values()) pool.untake(take);
  }

  private decide(
    tag: Tag,
    batch: Waiting[],
    plans: Plan[],
    pools: Pool[],
    call: AcquireCall,
    result: AcquireResult,
    sent: { at: number; leases: LeaseChange[][] },
  ): void {
    const now = this.clock();
    if (result.missing !== undefined) {
      this.unplan(plans);
      const missing = new Set(result.missing.map((i) => pools[i]?.spec.key));
      for (const { checks, resolve } of batch)
        resolve({
          kind: 'missing',
          checks: checks.flatMap((check, i) => (missing.has(check.spec.key) ? [i] : [])),
        });
      return;
    }
    pools.forEach((pool, i) => {
      const grant = result.counters[i];
      if (grant === undefined) return;
      pool.absorb(
        grant,
        call.leaseIds[i] as string,
        { at: sent.at, held: call.held[i] ?? 0, leases: sent.leases[i] ?? [] },
        now,
      );
    });
    batch.forEach(({ checks, resolve }, d) => {
      const own = checks.map((check) => this.poolFor(tag, check.spec));
      const outcome = result.outcomes[d];
      const plan = plans[d] as Plan;
      if (outcome === undefined || outcome.admitted) {
        const takes = checks.map(
          (check, i) =>
            plan.local.get(i) ?? {
              pool: own[i] as Pool,
              take: (own[i] as Pool).take(check.amount, now),
            },
        );
        resolve({
          kind: 'admitted',
          ticket: { takes },
          states: own.map((pool) => pool.state(now)),
        });
        return;
      }
      this.unplan([plan]);
      const refusedKey = pools[outcome.counter]?.spec.key;
      const waiting = batch[d] as Waiting;
      if (
        outcome.reclaimable &&
        refusedKey !== undefined &&
        this.awaitReclaim(tag, waiting, refusedKey)
      )
        return;
      resolve({
        kind: 'refused',
        check: Math.max(
          0,
          checks.findIndex((check) => check.spec.key === refusedKey),
        ),
        retryAfterMs: outcome.retryAfterMs,
        firstRefusal: outcome.firstRefusal,
        states: own.map((pool) => pool.state(now)),
      });
    });
  }

  /**
   * Asks the other instances for their idle capacity of the counter and puts the request
   * back to wait for it; false once it has waited enough (its refusal stands).
   */
  private awaitReclaim(tag: Tag, waiting: Waiting, key: string): boolean {
    const now = this.clock();
    waiting.reclaimUntil ??= now + RECLAIM_PATIENCE_MS;
    if (now >= waiting.reclaimUntil || this.closing) return false;
    if (now - (this.asked.get(key) ?? 0) >= RECLAIM_ASK_MS) {
      this.asked.set(key, now);
      this.options.reclaim.publish(key).catch((error: unknown) => this.options.onError(error));
    }
    setTimeout(() => {
      this.asked.delete(key);
      tag.waiting.push(waiting);
      this.scheduleFlush(tag);
    }, RECLAIM_WAIT_MS).unref();
    return true;
  }

  private forget(pools: Pool[], call: AcquireCall, at: number): void {
    pools.forEach((pool, i) => {
      const leaseId = call.leaseIds[i];
      if (pool.live) pool.heldTold = null;
      else if (leaseId) pool.forget(leaseId, at);
    });
  }

  /** Runs the tag's upkeep at `at`, unless it runs sooner already. */
  private wake(tag: Tag, at: number, now: number): void {
    if (this.closing) return;
    if (tag.timer !== null && tag.timerAt <= at) return;
    if (tag.timer !== null) clearTimeout(tag.timer);
    tag.timerAt = at;
    tag.timer = setTimeout(
      () => {
        tag.timer = null;
        tag.timerAt = Number.POSITIVE_INFINITY;
        void this.upkeep(tag);
      },
      Math.max(0, at - now),
    );
    tag.timer.unref();
  }

  /**
   * Ends leases and idle holds that are due, tells the ledger what changed, and plans the
   * next upkeep; a tag left with nothing is dropped.
   */
  private async upkeep(tag: Tag): Promise<void> {
    const now = this.clock();
    if (tag.busy) return this.wake(tag, now + SYNC_DELAY_MS, now);
    if (!tag.urgent && now - tag.syncedAt < SYNC_DELAY_MS)
      return this.wake(tag, tag.syncedAt + SYNC_DELAY_MS, now);
    tag.urgent = false;
    let next = Number.POSITIVE_INFINITY;
    for (const pool of tag.pools.values()) {
      const due = pool.tend(now, this.options.idleMs);
      if (due !== null) next = Math.min(next, due);
      // A live hold is renewed well before the ledger would let it go.
      if (pool.live && pool.held > 0) next = Math.min(next, now + this.options.holdMs / 3);
    }
    try {
      await this.sync(tag);
    } catch (error) {
      this.options.onError(error);
      next = Math.min(next, this.clock() + RETRY_SYNC_MS);
    }
    for (const [key, pool] of tag.pools)
      if (pool.empty && !tag.outbox?.used.some((u) => u.key === key)) tag.pools.delete(key);
    if (tag.pools.size === 0 && tag.waiting.length === 0 && !tag.busy && tag.outbox === null) {
      this.tags.delete(tag.name);
      return;
    }
    if (next !== Number.POSITIVE_INFINITY) this.wake(tag, next, this.clock());
  }

  /** Tells the ledger this instance's holds, closed leases and settled quota usage. */
  private async sync(tag: Tag): Promise<void> {
    if (tag.busy) return;
    const now = this.clock();
    const pools = [...tag.pools.values()];
    if (tag.outbox === null) {
      const used = pools
        .filter((p) => p.settling > 0)
        .map((p) => ({ key: p.spec.key, amount: p.settling }));
      for (const pool of pools) {
        pool.outboxed += pool.settling;
        pool.settling = 0;
      }
      if (used.length > 0) tag.outbox = { batchId: newId('bat'), used };
    }
    const outbox = tag.outbox;
    const told = pools
      .map((pool) => ({
        pool,
        // Live holds are renewed at every sync, changed or not.
        hold: pool.holdToTell(pool.held > 0),
        leases: pool.leaseChanges(now),
      }))
      .filter(({ hold, leases }) => hold !== null || leases.length > 0);
    if (told.length === 0) return;
    const position = new Map(told.map(({ pool }, i) => [pool.spec.key, i]));
    tag.busy = true;
    tag.syncedAt = now;
    try {
      const crossings = await withDeadline(
        this.options.ledger.sync({
          counters: told.map(({ pool }) => pool.spec),
          holder: this.options.holder,
          holdMs: this.options.holdMs,
          holds: told.flatMap(({ pool, hold }, i) =>
            hold === null ? [] : [{ counter: i, amount: hold, idle: Math.max(0, pool.free(now)) }],
          ),
          leases: told.flatMap(({ leases }, i) =>
            leases.map((lease) => ({ counter: i, ...lease })),
          ),
          used: (outbox?.used ?? []).flatMap((u) => {
            const counter = position.get(u.key);
            return counter === undefined ? [] : [{ counter, amount: u.amount }];
          }),
          batchId: outbox?.batchId ?? newId('bat'),
        }),
        // Off the request path: a slow answer is no reason to give up on it.
        Math.max(this.options.timeoutMs, 5000),
      );
      for (const { pool, hold, leases } of told) pool.told(hold, leases);
      if (tag.outbox === outbox) tag.outbox = null;
      for (const crossing of crossings) {
        const entry = told[crossing.counter];
        if (entry !== undefined) this.options.onCrossing(entry.pool.spec, crossing);
      }
    } finally {
      tag.busy = false;
      if (tag.waiting.length > 0) this.scheduleFlush(tag);
    }
  }
}
