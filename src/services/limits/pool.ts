import type { CounterGrant, CounterSpec, LeaseSettlement } from './ledger.js';

/** What one request took of one counter, to give back or correct when it is over. */
export interface Take {
  amount: number;
  /** The window lease it came from; null for concurrent and quota counters. */
  leaseId: string | null;
}

/** A window lease this instance hands units out of, until `endsAt`. */
interface Lease {
  id: string;
  granted: number;
  used: number;
  endsAt: number;
  lastUseAt: number;
}

/** A window lease's record, kept while its units count; the ledger is told its amount. */
interface LeaseRecord {
  amount: number;
  lastUseAt: number;
  /** Once its window is over nothing it held counts any more: the record goes. */
  dropAt: number;
  /** What the ledger was last told (null: nothing yet); sent again while it differs. */
  told: number | null;
}

/** The state of a counter as a response's headers show it. */
export interface PoolState {
  limit: number;
  remaining: number;
  resetMs: number;
}

/** A lease settlement without its counter's position in a call. */
export type LeaseChange = Omit<LeaseSettlement, 'counter'>;

/**
 * This instance's share of one counter: what it holds in the ledger and hands out locally.
 * Window counters hold leases (units usable until the lease ends, then counted until its
 * window is over); concurrent and quota counters one hold each, in use or idle.
 *
 * A quota's settled usage stays inside the hold until the ledger has added it to the
 * period's usage, in the same step that shrinks the hold: the ledger never sees the capacity
 * free before it sees it used.
 */
export class Pool {
  /** Concurrent and quota: the hold's amount as this instance knows it, and what of it is taken. */
  held = 0;
  inUse = 0;
  /** What the ledger was last told of `held` (null: never, or unknown after a failed call). */
  heldTold: number | null = null;
  /** Quota usage settled here and not yet handed to a sync; and the part a sync is carrying. */
  settling = 0;
  outboxed = 0;
  private lastDemandAt = 0;
  private lease: Lease | null = null;
  private readonly records = new Map<string, LeaseRecord>();
  /** The lease that counts what was taken while the ledger could not be asked. */
  private forcedId: string | null = null;
  private known = { remaining: 0, at: 0, resetMs: 0 };

  constructor(
    public spec: CounterSpec,
    private readonly leaseMs: number,
    private readonly newLeaseId: () => string,
  ) {}

  get live(): boolean {
    return this.spec.kind !== 'window';
  }

  available(amount: number, now: number): boolean {
    return amount === 0 || this.free(now) >= amount;
  }

  /** Units this instance may hand out now without asking the ledger. */
  free(now: number): number {
    if (this.live) return this.held - this.inUse - this.settling - this.outboxed;
    const lease = this.lease;
    return lease !== null && now < lease.endsAt ? lease.granted - lease.used : 0;
  }

  /** Takes `amount` from what this instance holds; the caller checked `available`. */
  take(amount: number, now: number): Take {
    this.lastDemandAt = now;
    if (amount === 0) return { amount, leaseId: null };
    this.known.remaining -= amount;
    if (this.live) {
      this.inUse += amount;
      return { amount, leaseId: null };
    }
    const lease = this.lease as Lease;
    lease.used += amount;
    lease.lastUseAt = now;
    return { amount, leaseId: lease.id };
  }

  /** Gives back a take whose request was not admitted after all: it served nothing. */
  untake(take: Take): void {
    if (take.amount === 0) return;
    this.known.remaining += take.amount;
    if (this.live) {
      this.inUse = Math.max(0, this.inUse - take.amount);
      return;
    }
    if (this.lease !== null && this.lease.id === take.leaseId)
      this.lease.used = Math.max(0, this.lease.used - take.amount);
  }

  /**
   * Takes `amount` although the ledger could not be asked (failing open): counted here,
   * and told to the ledger when it answers again, so the counters catch up with it.
   */
  force(amount: number, now: number): Take {
    this.lastDemandAt = now;
    if (this.live) {
      this.held += amount;
      this.inUse += amount;
      return { amount, leaseId: null };
    }
    if (this.forcedId === null || !this.records.has(this.forcedId))
      this.forcedId = this.newLeaseId();
    const leaseId = this.forcedId;
    const record = this.records.get(leaseId) ?? {
      amount: 0,
      lastUseAt: now,
      dropAt: 0,
      told: null,
    };
    record.amount += amount;
    record.lastUseAt = now;
    record.dropAt = now + (this.spec.windowMs ?? 0);
    this.records.set(leaseId, record);
    return { amount, leaseId };
  }

  /**
   * Before asking the ledger for more: a lease that cannot serve the demand ends, so what it
   * did not hand out goes back in the same call.
   */
  endLease(now: number): void {
    this.closeLease(now);
  }

  /**
   * What an acquire gave this instance, before its requests take from it. It was sent at
   * `sent.at` with `sent.held` as this instance's hold, which the ledger set to that plus the
   * grant; the lease settlements it carried were applied.
   */
  absorb(
    grant: CounterGrant,
    leaseId: string,
    sent: { at: number; held: number; leases: LeaseChange[] },
    now: number,
  ): void {
    this.told(null, sent.leases);
    // Units this instance holds are left for its requests too.
    this.known = { remaining: grant.remaining + grant.granted, at: now, resetMs: grant.resetMs };
    if (this.live) {
      this.held += grant.granted;
      this.heldTold = sent.held + grant.granted;
      return;
    }
    if (grant.granted === 0) return;
    this.lease = {
      id: leaseId,
      granted: grant.granted,
      used: 0,
      // From the moment it was asked for: the ledger's own clock started no earlier.
      endsAt: sent.at + this.leaseMs,
      lastUseAt: sent.at,
    };
    // The grant is in the ledger already: nothing to tell unless it changes.
    this.records.set(leaseId, {
      amount: grant.granted,
      lastUseAt: sent.at,
      dropAt: sent.at + this.leaseMs + (this.spec.windowMs ?? 0),
      told: grant.granted,
    });
  }

  /** A lease id the ledger may or may not have made (its call failed): set it to nothing. */
  forget(leaseId: string, now: number): void {
    if (this.records.has(leaseId)) return;
    this.records.set(leaseId, {
      amount: 0,
      lastUseAt: now,
      dropAt: now + this.leaseMs,
      told: null,
    });
  }

  /**
   * A request is over. A concurrent slot goes back to the idle part of the hold; a quota's
   * reservation becomes what was really used, settled for good at the next sync; a window's
   * reservation is corrected to what was really used (a failed call: nothing).
   */
  release(take: Take, actual: number): void {
    if (take.amount === 0 && actual === 0) return;
    if (this.spec.kind === 'concurrent') {
      this.inUse = Math.max(0, this.inUse - take.amount);
      this.known.remaining += take.amount;
      return;
    }
    this.known.remaining += take.amount - actual;
    if (this.spec.kind === 'quota') {
      this.inUse = Math.max(0, this.inUse - take.amount);
      this.settling += actual;
      return;
    }
    const delta = actual - take.amount;
    if (delta === 0 || take.leaseId === null) return;
    if (this.lease?.id === take.leaseId) {
      this.lease.used = Math.max(0, this.lease.used + delta);
      return;
    }
    const record = this.records.get(take.leaseId);
    // Gone: its window is over, and nothing it held counts any more.
    if (record !== undefined) record.amount = Math.max(0, record.amount + delta);
  }

  /**
   * Upkeep at `now`: an ended lease is closed (what it did not hand out goes back), an idle
   * hold shrinks to what it must keep, records past their window go. Returns when it next
   * needs upkeep (null: nothing pending).
   */
  tend(now: number, idleMs: number): number | null {
    let next: number | null = null;
    const soonest = (at: number) => {
      next = next === null ? at : Math.min(next, at);
    };
    if (this.lease !== null) {
      if (now >= this.lease.endsAt) this.closeLease(now);
      else soonest(this.lease.endsAt);
    }
    const keep = this.inUse + this.settling + this.outboxed;
    if (this.live && this.held > keep) {
      if (now - this.lastDemandAt >= idleMs) this.held = keep;
      else soonest(this.lastDemandAt + idleMs);
    }
    for (const [id, record] of this.records) {
      if (record.told !== record.amount) continue;
      if (now >= record.dropAt) this.records.delete(id);
      else if (this.lease?.id !== id) soonest(record.dropAt);
    }
    return next;
  }

  /** Leases whose amount the ledger does not know yet. */
  leaseChanges(now: number): LeaseChange[] {
    const changes: LeaseChange[] = [];
    for (const [leaseId, record] of this.records)
      if (record.told !== record.amount)
        changes.push({
          leaseId,
          amount: record.amount,
          lastUseAgoMs: Math.max(0, Math.round(now - record.lastUseAt)),
        });
    return changes;
  }

  /**
   * The hold a sync sets: without the usage it carries, which the same sync adds to the
   * period's usage. Null: nothing to set (a window counter, or the ledger knows it).
   */
  holdToTell(renew: boolean): number | null {
    if (!this.live) return null;
    const hold = this.held - this.outboxed;
    return renew || hold !== this.heldTold ? hold : null;
  }

  /** A sync landed: the usage it carried is counted for good, its values are known. */
  told(hold: number | null, leases: LeaseChange[]): void {
    if (hold !== null) {
      this.held -= this.outboxed;
      this.outboxed = 0;
      this.heldTold = hold;
    }
    for (const { leaseId, amount } of leases) {
      const record = this.records.get(leaseId);
      if (record !== undefined) record.told = amount;
    }
  }

  /** Another instance wants what this one holds idle: the lease ends, spare slots go. */
  letIdleGo(now: number): void {
    this.closeLease(now);
    if (this.live) this.held = this.inUse + this.settling + this.outboxed;
  }

  /** Shutting down, with no request left: every lease ends and every idle unit goes back. */
  finish(now: number): void {
    this.closeLease(now);
    this.held = this.inUse + this.settling + this.outboxed;
  }

  /** True when this pool holds nothing and remembers nothing: it may be dropped. */
  get empty(): boolean {
    return (
      this.held === 0 &&
      (this.heldTold ?? 0) === 0 &&
      this.inUse === 0 &&
      this.settling === 0 &&
      this.outboxed === 0 &&
      this.lease === null &&
      this.records.size === 0
    );
  }

  state(now: number): PoolState {
    return {
      limit: this.spec.limit,
      remaining: Math.max(0, this.known.remaining),
      resetMs: Math.max(0, this.known.resetMs - (now - this.known.at)),
    };
  }

  private closeLease(now: number): void {
    const lease = this.lease;
    if (lease === null) return;
    this.lease = null;
    const record = this.records.get(lease.id);
    if (record === undefined) return;
    record.amount = lease.used;
    record.lastUseAt = lease.used > 0 ? lease.lastUseAt : now;
    record.dropAt = record.lastUseAt + (this.spec.windowMs ?? 0);
  }
}
