import type { RedisCommands, RedisConnection } from '../../storage/redis.js';
import { decodeEntry, encodeEntry, type FlightEntry, isFinal } from './entries.js';
import type { Claim, FlightExchange, FollowHandlers, Leadership } from './exchange.js';
import { bySlot, FINISH, type Keys, keysOf, RENEW } from './redis-flight-keys.js';

export interface RedisExchangeOptions {
  /** The process's shared command connection. */
  client: RedisCommands;
  /** The one blocking connection all of this instance's followers are read through. */
  blocking: () => RedisConnection;
  /** How long a leadership lives without its heartbeat: the takeover's delay after a crash. */
  leaseMs: number;
  /** How long a finished leadership's entries stay readable for followers still catching up. */
  lingerMs?: number;
  /**
   * A Redis Cluster: one XREAD (or MGET) may name keys of one slot only and CLIENT UNBLOCK
   * reaches one node, so followers are read slot by slot without blocking, every
   * CLUSTER_POLL_MS while nothing arrives.
   */
  cluster?: boolean;
}

/** How long a cluster's reader waits between reads that found nothing. */
const CLUSTER_POLL_MS = 25;

/** Entries read per stream in one call; a stream is a few hundred chunks at most. */
const READ_COUNT = 1000;

interface Watch {
  keys: Keys;
  leaderId: string;
  lastId: string;
  handlers: FollowHandlers;
}

type StreamReply = [string, [string, string[]][]][] | null;

/**
 * The exchange on Redis: a lease per request key (`SET NX PX`, renewed by a heartbeat), a
 * Redis Stream per leadership (`XADD`), and one reader loop per instance that follows every
 * leadership its requests wait for with a single `XREAD BLOCK` over all their streams, and
 * checks their leases between reads.
 */
export class RedisFlightExchange implements FlightExchange {
  private readonly watches = new Set<Watch>();
  private reading = false;
  private readerId: string | null = null;
  private closed = false;
  private readonly lingerMs: number;
  /** Ends a cluster reader's pause early: a new watch is to be read. */
  private nudge: (() => void) | null = null;

  constructor(private readonly options: RedisExchangeOptions) {
    this.lingerMs = options.lingerMs ?? 10_000;
  }

  async claim(tenantId: string, key: string, candidate: string): Promise<Claim> {
    const { lead } = keysOf(tenantId, key, candidate);
    // One round trip: NX sets only a free key, GET says who held it instead (Redis 7).
    const holder = await this.options.client.call(
      'SET',
      lead,
      candidate,
      'PX',
      String(this.options.leaseMs),
      'NX',
      'GET',
    );
    if (holder === null) return { leader: true };
    return { leader: false, holder: String(holder) };
  }

  lead(tenantId: string, key: string, leaderId: string): Leadership {
    const { client, leaseMs } = this.options;
    const keys = keysOf(tenantId, key, leaderId);
    const streamTtl = String(leaseMs + this.lingerMs);
    let broken = false;
    const fail = () => {
      // The followers see the lease run out and take over; this instance's own clients go on.
      broken = true;
    };
    const renew = () =>
      client
        .eval(RENEW, 3, keys.lead, keys.stream, keys.followers, leaderId, leaseMs, streamTtl)
        .catch(fail);
    const heartbeat = setInterval(renew, Math.max(1, Math.floor(leaseMs / 3)));
    heartbeat.unref();
    let first = true;
    return {
      publish: (entry) => {
        if (broken) return;
        const [type, data] = encodeEntry(entry);
        client.xadd(keys.stream, '*', 't', type, 'd', data).catch(fail);
        if (first) {
          first = false;
          client.pexpire(keys.stream, streamTtl).catch(fail);
        }
      },
      followed: async () => {
        try {
          return Number(await client.get(keys.followers)) > 0;
        } catch {
          return true;
        }
      },
      end: () => {
        clearInterval(heartbeat);
        client
          .eval(FINISH, 3, keys.lead, keys.stream, keys.followers, leaderId, this.lingerMs)
          .catch(() => {});
      },
    };
  }

  follow(tenantId: string, key: string, leaderId: string, handlers: FollowHandlers) {
    const keys = keysOf(tenantId, key, leaderId);
    const watch: Watch = { keys, leaderId, lastId: '0-0', handlers };
    // The leader completes its call for anyone counted here, whatever its own client does.
    this.options.client
      .multi()
      .incr(keys.followers)
      .pexpire(keys.followers, this.options.leaseMs + this.lingerMs)
      .exec()
      .catch(() => {});
    this.watches.add(watch);
    this.wake();
    return { stop: () => void this.watches.delete(watch) };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watches.clear();
    this.wake();
  }

  /** Starts the reader loop, or interrupts its wait so it reads the new stream too. */
  private wake(): void {
    if (!this.reading) {
      this.reading = true;
      void this.readLoop().finally(() => {
        this.reading = false;
        // A watch added while the loop was ending.
        if (this.watches.size > 0 && !this.closed) this.wake();
      });
      return;
    }
    if (this.options.cluster) this.nudge?.();
    else if (this.readerId !== null)
      this.options.client.client('UNBLOCK', this.readerId).catch(() => {});
  }

  /** Reads what the watches' streams hold past what each has seen; blocks up to `blockMs`. */
  private read(reader: RedisCommands, watches: Watch[], blockMs: number | null) {
    const block = blockMs === null ? [] : ['BLOCK', blockMs];
    return reader.call(
      'XREAD',
      'COUNT',
      READ_COUNT,
      ...block,
      'STREAMS',
      ...watches.map((w) => w.keys.stream),
      ...watches.map((w) => w.lastId),
    ) as Promise<StreamReply>;
  }

  /**
   * One turn on a cluster: each slot's streams read at once without blocking; when none had
   * anything, a pause that a new watch cuts short.
   */
  private async readSlots(): Promise<void> {
    const groups = bySlot([...this.watches]);
    const replies = await Promise.all(
      groups.map((watches) => this.read(this.options.client, watches, null)),
    );
    let found = false;
    for (const [i, reply] of replies.entries()) {
      found ||= (reply?.length ?? 0) > 0;
      this.dispatch(groups[i] ?? [], reply);
    }
    if (found) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLUSTER_POLL_MS);
      this.nudge = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.nudge = null;
  }

  private async readLoop(): Promise<void> {
    const checkEveryMs = Math.max(1, Math.floor(this.options.leaseMs / 2));
    let checkedAt = Date.now();
    try {
      const reader = this.options.cluster ? null : this.options.blocking();
      if (reader !== null) this.readerId ??= String(await reader.client('ID'));
      while (this.watches.size > 0 && !this.closed) {
        if (reader === null) await this.readSlots();
        else {
          const watches = [...this.watches];
          this.dispatch(watches, await this.read(reader, watches, checkEveryMs));
        }
        if (Date.now() - checkedAt >= checkEveryMs) {
          checkedAt = Date.now();
          await this.checkLeases();
        }
      }
    } catch (error) {
      this.readerId = null;
      const watches = [...this.watches];
      this.watches.clear();
      for (const watch of watches) watch.handlers.failed(error);
    }
  }

  private dispatch(watches: Watch[], reply: StreamReply): void {
    for (const [stream, entries] of reply ?? []) {
      const watch = watches.find((w) => w.keys.stream === stream);
      if (watch !== undefined) this.deliver(watch, entries);
    }
  }

  /** Hands entries to the watch in order; a final one ends the watch. */
  private deliver(watch: Watch, entries: [string, string[]][]): boolean {
    for (const [id, fields] of entries) {
      if (!this.watches.has(watch)) return true;
      watch.lastId = id;
      const entry = decodeEntry(fields[1] ?? '', fields[3] ?? '');
      if (entry === null) continue;
      watch.handlers.entry(entry);
      if (isFinal(entry)) {
        this.watches.delete(watch);
        return true;
      }
    }
    return false;
  }

  /** Leases gone or changed hands: the entries written before are read first, then told. */
  private async checkLeases(): Promise<void> {
    if (this.watches.size === 0) return;
    // One MGET on a standalone Redis; on a cluster one per slot, all at once.
    const groups = this.options.cluster ? bySlot([...this.watches]) : [[...this.watches]];
    const replies = await Promise.all(
      groups.map((group) => this.options.client.mget(...group.map((w) => w.keys.lead))),
    );
    const watches = groups.flat();
    const holders = replies.flat();
    for (const [index, watch] of watches.entries()) {
      const holder = holders[index] ?? null;
      if (holder === watch.leaderId || !this.watches.has(watch)) continue;
      // A leader that finished frees its key right after its final entry: read up to it.
      const rest = (await this.options.client.xrange(
        watch.keys.stream,
        `(${watch.lastId}`,
        '+',
      )) as [string, string[]][];
      if (this.deliver(watch, rest)) continue;
      this.watches.delete(watch);
      watch.handlers.leaderGone(holder);
    }
  }
}

export type { FlightEntry };
