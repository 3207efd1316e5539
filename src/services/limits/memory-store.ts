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
  type RateLimitStore,
  type Settlement,
  WINDOW_MS,
} from './store.js';

/**
 * How often idle counters are looked for. Touching a counter prunes it too; the sweep is for
 * the ones nobody touches again, so that memory follows current traffic only.
 */
const SWEEP_MS = 10_000;

export interface MemoryRateLimitStoreOptions {
  /** Epoch milliseconds; tests pass a controllable one. */
  clock?: () => number;
}

/** Bucket id -> amount counted in that second. */
type Counter = Map<number, number>;
/** Lease id -> expiry (epoch ms). */
type Leases = Map<string, number>;

/** What a check found, before we know whether the whole acquisition goes ahead. */
type Finding =
  | { kind: 'window'; fits: boolean; retryAfterMs: number; used: number; newest: number | null }
  | { kind: 'leases'; fits: boolean; retryAfterMs: number; live: number; others: number }
  | { kind: 'quota'; fits: boolean; retryAfterMs: number; used: number; seeding: boolean }
  | { kind: 'missing' };

const bucketOf = (ms: number): number => Math.floor(ms / BUCKET_MS);
/** The oldest bucket a check made during `current` still sums. */
const oldestCounted = (current: number): number => current - (BUCKETS_PER_CHECK - 1);
/** The moment no check sums `bucket` any more. */
const leavesAt = (bucket: number): number => (bucket + BUCKETS_PER_CHECK) * BUCKET_MS;
const resetMs = (newest: number | null, now: number): number =>
  newest === null ? 0 : leavesAt(newest) - now;

/** A quota's counter: what its period used so far, and the markers already reported. */
interface QuotaCounter {
  used: number;
  /** `t50`... for thresholds reported, `refused` once a request was refused. */
  markers: Set<string>;
  expiresAt: number | null;
}

/**
 * Once the whole buckets it needs have left the window. An amount above the limit can never
 * fit: the caller gets a full window, the longest any counter can take to clear.
 */
function windowRetryAfter(counter: Counter, check: LimitCheck, used: number, now: number): number {
  if (check.amount > check.limit) return WINDOW_MS;
  const current = bucketOf(now);
  let freed = 0;
  for (let bucket = oldestCounted(current); bucket <= current; bucket++) {
    freed += counter.get(bucket) ?? 0;
    if (used - freed + check.amount <= check.limit) return Math.max(1, leavesAt(bucket) - now);
  }
  return WINDOW_MS;
}

function judgeWindow(counter: Counter, check: LimitCheck, now: number): Finding {
  const current = bucketOf(now);
  let used = 0;
  let newest: number | null = null;
  for (let bucket = oldestCounted(current); bucket <= current; bucket++) {
    const amount = counter.get(bucket) ?? 0;
    if (amount > 0) {
      used += amount;
      newest = bucket;
    }
  }
  const fits = check.amount <= check.limit && used + check.amount <= check.limit;
  const retryAfterMs = fits ? 0 : windowRetryAfter(counter, check, used, now);
  return { kind: 'window', fits, retryAfterMs, used, newest };
}

/** `leases` holds live leases only. The same lease id renews its slot instead of taking another. */
function judgeLeases(leases: Leases, check: LimitCheck, leaseId: string, now: number): Finding {
  let others = 0;
  let earliest = Number.POSITIVE_INFINITY;
  for (const [id, expiry] of leases) {
    if (id === leaseId) continue;
    others += 1;
    earliest = Math.min(earliest, expiry);
  }
  const fits = others + 1 <= check.limit;
  // Below one slot nothing ever fits; report a full window like an oversized amount.
  const retryAfterMs = fits ? 0 : check.limit < 1 ? WINDOW_MS : Math.max(1, earliest - now);
  return { kind: 'leases', fits, retryAfterMs, live: leases.size, others };
}

/** A missing counter starts at its seed; without one, it is reported rather than guessed. */
function judgeQuota(counter: QuotaCounter | undefined, check: LimitCheck): Finding {
  if (counter === undefined && check.seed === undefined) return { kind: 'missing' };
  const used = counter?.used ?? (check.seed as number);
  const fits = used + check.amount <= check.limit;
  return { kind: 'quota', fits, retryAfterMs: fits ? 0 : WINDOW_MS, used, seeding: !counter };
}

/** The state a caller sees: after this request when it is taken, as things stand otherwise. */
function stateOf(check: LimitCheck, finding: Finding, taken: boolean, now: number): LimitState {
  const { key, kind, limit } = check;
  if (finding.kind === 'missing') return { key, kind, limit, remaining: 0, resetMs: 0 };
  if (finding.kind === 'quota') {
    const remaining = limit - finding.used - (taken ? check.amount : 0);
    return { key, kind, limit, remaining: Math.max(0, remaining), resetMs: 0 };
  }
  if (finding.kind === 'leases') {
    const remaining = taken ? limit - finding.others - 1 : limit - finding.live;
    return { key, kind, limit, remaining: Math.max(0, remaining), resetMs: 0 };
  }
  if (taken) {
    const newest = check.amount > 0 ? bucketOf(now) : finding.newest;
    const remaining = limit - finding.used - check.amount;
    return { key, kind, limit, remaining: Math.max(0, remaining), resetMs: resetMs(newest, now) };
  }
  const remaining = Math.max(0, limit - finding.used);
  return { key, kind, limit, remaining, resetMs: resetMs(finding.newest, now) };
}

/**
 * One process's counters, with the same sliding window as the Redis store. Everything runs
 * synchronously inside each call, so an acquisition is atomic without locks.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly clock: () => number;
  private readonly counters = new Map<string, Counter>();
  private readonly leaseSets = new Map<string, Leases>();
  private readonly quotas = new Map<string, QuotaCounter>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: MemoryRateLimitStoreOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    // An idle limiter must not keep the process alive.
    this.sweeper.unref();
  }

  async acquire(checks: LimitCheck[], leaseId: string, leaseMs: number): Promise<Acquired> {
    for (const check of checks) assertCheck(check);
    assertWhole('leaseMs', leaseMs, 1);
    return this.acquireNow(checks, leaseId, leaseMs);
  }

  /**
   * Token adjustments are not idempotent: the caller settles a request once. Lease removal
   * is by id, so repeating it never frees another request's slot.
   */
  async settle(bucket: number, settlement: Settlement, leaseId: string): Promise<Crossing[]> {
    assertSettlement(bucket, settlement);
    this.settleNow(bucket, settlement, leaseId);
    return this.settleQuotas(settlement);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.counters.clear();
    this.leaseSets.clear();
    this.quotas.clear();
  }

  /** Counters and lease sets held; idle ones are dropped, so this follows live traffic. */
  keyCount(): number {
    return this.counters.size + this.leaseSets.size + this.quotas.size;
  }

  private now(): number {
    return Math.floor(this.clock());
  }

  private acquireNow(checks: LimitCheck[], leaseId: string, leaseMs: number): Acquired {
    const now = this.now();
    const findings = checks.map((check) => this.judge(check, leaseId, now));
    const unseeded = checks.filter((_check, i) => findings[i]?.kind === 'missing');
    if (unseeded.length > 0) return { ok: false, refused: null, unseeded, states: [] };
    checks.forEach((check, i) => {
      const finding = findings[i] as Finding;
      if (finding.kind === 'quota' && finding.seeding) this.seedQuota(check, finding.used);
    });
    const refusedAt = findings.findIndex((finding) => 'fits' in finding && !finding.fits);
    const taken = refusedAt === -1;
    const states = checks.map((check, i) => stateOf(check, findings[i] as Finding, taken, now));
    const refused = checks[refusedAt];
    if (refused !== undefined) {
      const finding = findings[refusedAt] as Extract<Finding, { fits: boolean }>;
      const firstRefusal = refused.kind === 'quota' && this.mark(refused.key, 'refused');
      return { ok: false, refused, retryAfterMs: finding.retryAfterMs, states, firstRefusal };
    }
    for (const check of checks) this.take(check, leaseId, now + leaseMs, now);
    return { ok: true, bucket: bucketOf(now), states };
  }

  private judge(check: LimitCheck, leaseId: string, now: number): Finding {
    if (check.kind === 'concurrent')
      return judgeLeases(this.leases(check.key, now), check, leaseId, now);
    if (check.kind === 'quota') return judgeQuota(this.quota(check.key, now), check);
    return judgeWindow(this.counter(check.key, now), check, now);
  }

  /** Thresholds the seed has passed already count as reported, as in the Redis store. */
  private seedQuota(check: LimitCheck, used: number): void {
    const markers = new Set<string>();
    for (const threshold of check.thresholds ?? [])
      if (used * 100 >= threshold * check.limit) markers.add(`t${threshold}`);
    this.quotas.set(check.key, { used, markers, expiresAt: check.expiresAt ?? null });
  }

  /** Sets a marker on a quota counter; true when it was not set before. */
  private mark(key: string, marker: string): boolean {
    const counter = this.quotas.get(key);
    if (counter === undefined || counter.markers.has(marker)) return false;
    counter.markers.add(marker);
    return true;
  }

  private settleQuotas(settlement: Settlement): Crossing[] {
    const now = this.now();
    const crossings: Crossing[] = [];
    for (const { key, delta, limit, thresholds } of settlement.quotas ?? []) {
      // A counter gone meanwhile is rebuilt from the usage records, which hold this usage.
      const counter = this.quota(key, now);
      if (counter === undefined) continue;
      counter.used = Math.max(0, counter.used + delta);
      for (const threshold of thresholds)
        if (counter.used * 100 >= threshold * limit && this.mark(key, `t${threshold}`))
          crossings.push({ key, threshold, used: counter.used });
    }
    return crossings;
  }

  /** The quota counter, unless it has expired. */
  private quota(key: string, now: number): QuotaCounter | undefined {
    const counter = this.quotas.get(key);
    if (counter?.expiresAt != null && counter.expiresAt <= now) {
      this.quotas.delete(key);
      return undefined;
    }
    return counter;
  }

  private take(check: LimitCheck, leaseId: string, expiry: number, now: number): void {
    if (check.kind === 'concurrent') {
      this.stored(this.leaseSets, check.key).set(leaseId, expiry);
      return;
    }
    if (check.kind === 'quota') {
      const counter = this.quotas.get(check.key);
      if (counter) counter.used += check.amount;
      return;
    }
    if (check.amount === 0) return;
    const counter = this.stored(this.counters, check.key);
    const bucket = bucketOf(now);
    counter.set(bucket, (counter.get(bucket) ?? 0) + check.amount);
  }

  private settleNow(bucket: number, settlement: Settlement, leaseId: string): void {
    const now = this.now();
    // Usage that has left the window counts for nothing any more; correcting it would only
    // leave a stray bucket behind.
    if (bucket >= oldestCounted(bucketOf(now))) {
      for (const { key, delta } of settlement.adjustments) this.adjust(key, bucket, delta, now);
    }
    for (const key of settlement.leases) {
      const leases = this.leases(key, now);
      leases.delete(leaseId);
      if (leases.size === 0) this.leaseSets.delete(key);
    }
  }

  private adjust(key: string, bucket: number, delta: number, now: number): void {
    const counter = this.counter(key, now);
    const value = (counter.get(bucket) ?? 0) + delta;
    if (value > 0) {
      this.stored(this.counters, key).set(bucket, value);
      return;
    }
    // Never below zero: a too-large refund must not free capacity other requests used.
    counter.delete(bucket);
    if (counter.size === 0) this.counters.delete(key);
  }

  /** The counter's buckets still in the window; an emptied counter is forgotten. */
  private counter(key: string, now: number): Counter {
    const counter = this.counters.get(key);
    if (counter === undefined) return new Map();
    const oldest = oldestCounted(bucketOf(now));
    for (const bucket of counter.keys()) if (bucket < oldest) counter.delete(bucket);
    if (counter.size === 0) this.counters.delete(key);
    return counter;
  }

  /** The lease set's live leases; an emptied set is forgotten. */
  private leases(key: string, now: number): Leases {
    const leases = this.leaseSets.get(key);
    if (leases === undefined) return new Map();
    for (const [id, expiry] of leases) if (expiry <= now) leases.delete(id);
    if (leases.size === 0) this.leaseSets.delete(key);
    return leases;
  }

  private stored<T>(maps: Map<string, Map<T, number>>, key: string): Map<T, number> {
    let map = maps.get(key);
    if (map === undefined) {
      map = new Map();
      maps.set(key, map);
    }
    return map;
  }

  private sweep(): void {
    const now = this.now();
    for (const key of [...this.counters.keys()]) this.counter(key, now);
    for (const key of [...this.leaseSets.keys()]) this.leases(key, now);
    for (const key of [...this.quotas.keys()]) this.quota(key, now);
  }
}
