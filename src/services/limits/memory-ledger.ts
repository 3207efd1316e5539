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
  type LeaseSettlement,
  type Ledger,
  prefetchOf,
  type SyncCall,
} from './ledger.js';

/** One counter, as the Redis ledger keeps it in a hash and a sorted set. */
interface Counter {
  /** Hold id -> amount, its idle part, and expiry (epoch ms). */
  holds: Map<string, { amount: number; idle: number; expiresAt: number }>;
  /** A quota's settled usage; undefined until known (seeded). */
  used?: number;
  /** `r` once a quota refused a request this period, `t<n>` for thresholds told. */
  markers: Set<string>;
  /** When the whole counter goes: a quota's period end; otherwise its last hold's. */
  expiresAt: number | null;
}

/** How often counters nobody touches are looked for, so memory follows current traffic. */
const SWEEP_MS = 10_000;

export interface MemoryLedgerOptions {
  /** Epoch ms; tests pass a controllable one. */
  clock?: () => number;
}

/**
 * The ledger for one instance, in this process: the same semantics as the Redis scripts,
 * step for step, so the same test suite holds for both.
 */
export class MemoryLedger implements Ledger {
  private readonly counters = new Map<string, Counter>();
  private readonly batches = new Map<string, number>();
  private readonly clock: () => number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: MemoryLedgerOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  async acquire(call: AcquireCall): Promise<AcquireResult> {
    assertAcquire(call);
    const now = this.clock();
    this.settleLeases(call.counters, call.leases, now);
    const states = call.counters.map((spec, i) => {
      const counter = this.counter(spec, now);
      let sum = liveSum(counter);
      if (spec.kind !== 'window')
        sum = sum - (counter.holds.get(call.holder)?.amount ?? 0) + (call.held[i] ?? 0);
      return { spec, counter, sum, used: counter.used, seeding: false, taken: 0, unit: 0 };
    });
    const missing: number[] = [];
    states.forEach((state, i) => {
      if (state.spec.kind !== 'quota' || state.used !== undefined) return;
      if (state.spec.seed === undefined) missing.push(i);
      else {
        state.used = state.spec.seed;
        state.seeding = true;
      }
    });
    if (missing.length > 0) return { missing };

    const outcomes: DemandOutcome[] = call.demands.map(({ amounts }) => {
      let refused: { counter: number; amount: number } | null = null;
      for (const { counter, amount } of amounts) {
        const state = states[counter] as (typeof states)[number];
        state.unit = Math.max(state.unit, amount);
        const total = state.sum + (state.used ?? 0) + state.taken + amount;
        if (refused === null && total > state.spec.limit) refused = { counter, amount };
      }
      if (refused === null) {
        for (const { counter, amount } of amounts)
          (states[counter] as (typeof states)[number]).taken += amount;
        return { admitted: true };
      }
      const state = states[refused.counter] as (typeof states)[number];
      return {
        admitted: false,
        counter: refused.counter,
        ...this.refusal(state, refused.amount, now, call.leaseMs),
        reclaimable: idleElsewhere(state.counter, call.holder) > 0,
      };
    });

    const grants: CounterGrant[] = states.map((state, i) => {
      const { spec, counter } = state;
      let grant = state.taken;
      if (call.prefetch && state.taken > 0) {
        const free = spec.limit - state.sum - (state.used ?? 0) - state.taken;
        grant += prefetchOf(free, call.instances, spec.limit, state.unit);
      }
      if (state.seeding) {
        counter.used = state.used;
        for (const threshold of spec.thresholds ?? [])
          if ((state.used ?? 0) * 100 >= threshold * spec.limit)
            counter.markers.add(`t${threshold}`);
      }
      if (spec.kind === 'window') {
        if (grant > 0) {
          const expiresAt = now + call.leaseMs + (spec.windowMs ?? 0);
          setHold(counter, call.leaseIds[i] as string, grant, expiresAt, now, grant - state.taken);
        }
      } else {
        const idle = (call.idle[i] ?? 0) + grant - state.taken;
        setHold(counter, call.holder, (call.held[i] ?? 0) + grant, now + call.holdMs, now, idle);
      }
      this.keep(spec, counter);
      return {
        granted: grant,
        remaining: Math.max(0, spec.limit - liveSum(counter) - (counter.used ?? 0)),
        resetMs: spec.kind === 'window' ? Math.max(0, lastExpiry(counter) - now) : 0,
      };
    });
    return { outcomes, counters: grants };
  }

  async sync(call: SyncCall): Promise<Crossing[]> {
    assertSync(call);
    const now = this.clock();
    const counters = call.counters.map((spec) => this.counter(spec, now));
    for (const { counter, amount, idle } of call.holds)
      setHold(counters[counter] as Counter, call.holder, amount, now + call.holdMs, now, idle);
    this.settleLeases(call.counters, call.leases, now);
    const crossings: Crossing[] = [];
    // A batch seen before (a retry whose first reply was lost) adds nothing.
    if (call.used.length > 0 && !this.batches.has(call.batchId)) {
      this.batches.set(call.batchId, now + BATCH_MEMORY_MS);
      for (const { counter: index, amount } of call.used) {
        const spec = call.counters[index] as CounterSpec;
        const counter = counters[index] as Counter;
        // A counter lost is rebuilt from the usage records, which hold this usage.
        if (counter.used === undefined) continue;
        counter.used += amount;
        for (const threshold of spec.thresholds ?? []) {
          const marker = `t${threshold}`;
          if (counter.used * 100 < threshold * spec.limit || counter.markers.has(marker)) continue;
          counter.markers.add(marker);
          crossings.push({ counter: index, threshold, used: counter.used });
        }
      }
    }
    call.counters.forEach((spec, i) => {
      this.keep(spec, counters[i] as Counter);
    });
    return crossings;
  }

  /** Each lease counts what it used until its last use plus the window. */
  private settleLeases(specs: CounterSpec[], leases: LeaseSettlement[], now: number): void {
    for (const lease of leases) {
      const spec = specs[lease.counter] as CounterSpec;
      const expiresAt = now - lease.lastUseAgoMs + (spec.windowMs ?? 0);
      setHold(this.counter(spec, now), lease.leaseId, lease.amount, expiresAt, now);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.counters.clear();
    this.batches.clear();
  }

  /** The counter, its expired holds dropped; a counter whose time is over starts again. */
  private counter(spec: CounterSpec, now: number): Counter {
    let counter = this.counters.get(spec.key);
    if (counter !== undefined && counter.expiresAt !== null && counter.expiresAt <= now) {
      this.counters.delete(spec.key);
      counter = undefined;
    }
    if (counter === undefined) {
      counter = { holds: new Map(), markers: new Set(), expiresAt: null };
      this.counters.set(spec.key, counter);
    }
    for (const [id, hold] of counter.holds) if (hold.expiresAt <= now) counter.holds.delete(id);
    return counter;
  }

  private refusal(
    state: { spec: CounterSpec; counter: Counter; sum: number; taken: number },
    amount: number,
    now: number,
    leaseMs: number,
  ): { retryAfterMs: number; firstRefusal: boolean } {
    const { spec, counter } = state;
    if (spec.kind === 'quota') {
      const first = !counter.markers.has('r');
      counter.markers.add('r');
      return { retryAfterMs: 60_000, firstRefusal: first };
    }
    if (spec.kind === 'concurrent') return { retryAfterMs: 1000, firstRefusal: false };
    const window = spec.windowMs ?? 0;
    if (amount > spec.limit) return { retryAfterMs: window, firstRefusal: false };
    const byExpiry = [...counter.holds.values()].sort((a, b) => a.expiresAt - b.expiresAt);
    const used = state.sum + state.taken;
    let freed = 0;
    for (const hold of byExpiry) {
      freed += hold.amount;
      if (used - freed + amount <= spec.limit)
        return { retryAfterMs: Math.max(1, hold.expiresAt - now), firstRefusal: false };
    }
    // What this call took so far leaves last, with the lease it is about to make.
    return { retryAfterMs: leaseMs + window, firstRefusal: false };
  }

  /** As the Redis keys' TTLs: a quota until its period ends, the others while they hold. */
  private keep(spec: CounterSpec, counter: Counter): void {
    if (spec.kind === 'quota') {
      counter.expiresAt = spec.expiresAt ?? null;
      return;
    }
    if (counter.holds.size === 0) this.counters.delete(spec.key);
    else counter.expiresAt = lastExpiry(counter) + 1000;
  }

  private sweep(): void {
    const now = this.clock();
    for (const [key, counter] of this.counters)
      if (counter.expiresAt !== null && counter.expiresAt <= now) this.counters.delete(key);
    for (const [id, until] of this.batches) if (until <= now) this.batches.delete(id);
  }
}

function liveSum(counter: Counter): number {
  let sum = 0;
  for (const hold of counter.holds.values()) sum += hold.amount;
  return sum;
}

function lastExpiry(counter: Counter): number {
  let last = 0;
  for (const hold of counter.holds.values()) last = Math.max(last, hold.expiresAt);
  return last;
}

function setHold(
  counter: Counter,
  id: string,
  amount: number,
  expiresAt: number,
  now: number,
  idle = 0,
) {
  if (amount > 0 && expiresAt > now) counter.holds.set(id, { amount, idle, expiresAt });
  else counter.holds.delete(id);
}

/** Idle capacity of this counter in holds other than `own`. */
function idleElsewhere(counter: Counter, own: string): number {
  let idle = 0;
  for (const [id, hold] of counter.holds) if (id !== own) idle += hold.idle;
  return idle;
}
