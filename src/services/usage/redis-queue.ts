import type { RedisCommands, RedisConnection } from '../../storage/redis.js';
import { keyBeside } from '../../storage/redis-keys.js';
import {
  ackAndDelete,
  fieldOf,
  GroupReader,
  isNoGroup,
  type StreamEntry,
} from '../../storage/redis-streams.js';
import { NO_REPLICA_WAIT, type ReplicaWait, throwFailed } from '../../storage/replica-wait.js';
import { type DeadLetter, type Delivery, timeOfEntry, type UsageQueue } from './queue.js';
import type { UsageEvent } from './usage-records.js';
import { decodeUsageEvent, encodeUsageEvent } from './usage-wire.js';

export const USAGE_STREAM = 'llmb:usage';
export const USAGE_GROUP = 'usage-writers';

export interface RedisUsageQueueOptions {
  /** Commands: publish, claim, acknowledge. */
  client: RedisCommands;
  /**
   * Its own connection: a blocking XREADGROUP holds it while it waits. The queue owns it and
   * cuts it on close, which ends a read waiting on it.
   */
  blocking: RedisConnection;
  /** How long a taken entry may stay unacknowledged before another consumer claims it. */
  claimIdleMs: number;
  /** Dead letters kept (approximately); the oldest go first. */
  maxDeadLetters?: number;
  /**
   * The stream's key (default `llmb:usage`); dead letters go to `{<stream>}:dead`, in the
   * stream's cluster slot, since one MULTI moves an entry from one to the other.
   */
  stream?: string;
  /** Holds each publish until the stream master's replicas have it; default: no wait. */
  replicaWait?: ReplicaWait;
}

function delivery([id, fields]: StreamEntry, attempts: number): Delivery {
  const raw = fieldOf(fields, 'event') ?? '';
  return { id, raw, event: decodeUsageEvent(raw), attempts };
}

/**
 * Usage events on a Redis Stream read by one consumer group, so each entry goes to one
 * worker among many. Acknowledged entries are deleted, so the stream holds only the backlog.
 * The stream is one key: every instance and worker meets on it, on a cluster too.
 */
export class RedisUsageQueue implements UsageQueue {
  private readonly reader: GroupReader;
  private readonly stream: string;
  private readonly dead: string;

  constructor(private readonly options: RedisUsageQueueOptions) {
    this.stream = options.stream ?? USAGE_STREAM;
    this.dead = keyBeside(this.stream, 'dead');
    // Made from the stream's start: events queued before any worker read are theirs too.
    this.reader = new GroupReader({
      client: options.client,
      blocking: () => options.blocking,
      stream: this.stream,
      group: USAGE_GROUP,
      start: '0',
      claimIdleMs: options.claimIdleMs,
    });
  }

  async publish(events: UsageEvent[]): Promise<void> {
    if (events.length === 0) return;
    // Answers go out once these events are held: a failover must not lose them (ReplicaWait).
    const wait = this.options.replicaWait ?? NO_REPLICA_WAIT;
    const results = await wait.exec('usage', this.options.client, this.stream, (pipeline) => {
      for (const event of events) pipeline.xadd(this.stream, '*', 'event', encodeUsageEvent(event));
    });
    throwFailed(results);
  }

  async read(consumer: string, count: number, blockMs: number): Promise<Delivery[]> {
    // Entries a dead worker (or a failed write) left behind go first.
    const taken = await this.reader.read(consumer, count, blockMs);
    return taken.map(({ entry, attempts }) => delivery(entry, attempts));
  }

  async ack(ids: string[]): Promise<void> {
    await ackAndDelete(this.options.client, this.stream, USAGE_GROUP, ids);
  }

  async deadLetter(entry: Delivery, reason: string): Promise<void> {
    const max = this.options.maxDeadLetters ?? 10_000;
    await this.options.client
      .multi()
      .xadd(
        this.dead,
        'MAXLEN',
        '~',
        max,
        '*',
        'event',
        entry.raw,
        'reason',
        reason,
        'attempts',
        entry.attempts,
        'source',
        entry.id,
      )
      .xack(this.stream, USAGE_GROUP, entry.id)
      .xdel(this.stream, entry.id)
      .exec();
  }

  async deadLetters(limit: number): Promise<DeadLetter[]> {
    const entries = (await this.options.client.xrevrange(
      this.dead,
      '+',
      '-',
      'COUNT',
      limit,
    )) as StreamEntry[];
    return entries.map(([id, fields]) => ({
      id: fieldOf(fields, 'source') ?? id,
      raw: fieldOf(fields, 'event') ?? '',
      reason: fieldOf(fields, 'reason') ?? '',
      attempts: Number(fieldOf(fields, 'attempts') ?? 0),
      at: new Date(Number(id.split('-')[0])),
    }));
  }

  async backlog(): Promise<number> {
    return this.options.client.xlen(this.stream);
  }

  async pending(): Promise<number> {
    try {
      // The summary form: [count, first id, last id, consumers].
      const [count] = (await this.options.client.xpending(this.stream, USAGE_GROUP)) as [number];
      return count;
    } catch (error) {
      // No group yet (no worker has read): nothing is handed out.
      if (isNoGroup(error)) return 0;
      throw error;
    }
  }

  async deadLetterCount(): Promise<number> {
    return this.options.client.xlen(this.dead);
  }

  /** Acknowledged entries are deleted, so the stream's first entry is the oldest left. */
  async oldest(): Promise<Date | null> {
    const [first] = await this.options.client.xrange(this.stream, '-', '+', 'COUNT', 1);
    return timeOfEntry(first?.[0]);
  }

  /**
   * Queued events outlive a Redis restart only with the append-only file on; without it a
   * restart loses what came since the last snapshot.
   */
  async durabilityWarning(): Promise<string | null> {
    const info = await this.options.client.info('persistence');
    if (/^aof_enabled:1\s*$/m.test(info)) return null;
    return 'Redis runs without appendonly (AOF): usage events still queued are lost if Redis restarts. Set appendonly yes (appendfsync everysec); see docs/usage.md.';
  }

  async close(): Promise<void> {
    this.options.blocking.disconnect();
  }
}
