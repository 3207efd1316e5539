import { MemoryConsumerGroup } from '../../storage/memory-group.js';
import type { RedisCommands, RedisConnection } from '../../storage/redis.js';
import {
  ackAndDelete,
  fieldOf,
  GroupReader,
  type StreamEntry,
} from '../../storage/redis-streams.js';
import { NO_REPLICA_WAIT, type ReplicaWait, throwFailed } from '../../storage/replica-wait.js';

/** One line of one tenant's batch to run. */
export interface BatchJob {
  tenantId: string;
  batchId: string;
  index: number;
}

/** A job handed to a runner; handed out again until acknowledged. */
export interface TakenJob {
  /** The queue's id for the entry (a stream entry id). */
  entryId: string;
  /** Null when the entry is not a job at all (acknowledge it to set it aside). */
  job: BatchJob | null;
  /** How many times it has been handed out, this time included. */
  attempts: number;
}

/**
 * Batch lines between the request that created the batch and the runners: a Redis Stream
 * read by one consumer group when instances share Redis, an in-process group otherwise.
 * A job a runner took and never acknowledged (it died mid-line) goes to the next reader once
 * idle for the claim time; the line's row in the tenant's database says whether it ran.
 */
export interface BatchQueue {
  readonly kind: 'memory' | 'redis';
  publish(jobs: BatchJob[]): Promise<void>;
  /** Up to `count` jobs: idle ones of any runner first, then new ones, waiting up to `blockMs`. */
  read(consumer: string, count: number, blockMs: number): Promise<TakenJob[]>;
  ack(entryIds: string[]): Promise<void>;
  /**
   * Restarts the idle time of jobs `consumer` is still running: only a runner that stopped
   * renewing them (it died) has its jobs claimed by another, however long a line takes.
   */
  touch(consumer: string, entryIds: string[]): Promise<void>;
  close(): Promise<void>;
}

const encode = (job: BatchJob) => JSON.stringify([job.tenantId, job.batchId, job.index]);

function decode(text: string): BatchJob | null {
  try {
    const value: unknown = JSON.parse(text);
    if (!Array.isArray(value) || value.length !== 3) return null;
    const [tenantId, batchId, index] = value as unknown[];
    if (typeof tenantId !== 'string' || typeof batchId !== 'string') return null;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0) return null;
    return { tenantId, batchId, index };
  } catch {
    return null;
  }
}

/** One process, nothing shared: the embedded default. Lost at exit, resumed from the rows. */
export class MemoryBatchQueue implements BatchQueue {
  readonly kind = 'memory' as const;
  private readonly group: MemoryConsumerGroup<string>;

  constructor(options: { claimIdleMs: number }) {
    this.group = new MemoryConsumerGroup(options);
  }

  async publish(jobs: BatchJob[]): Promise<void> {
    this.group.add(jobs.map(encode));
  }

  async read(consumer: string, count: number, blockMs: number): Promise<TakenJob[]> {
    const taken = await this.group.read(consumer, count, blockMs);
    return taken.map(({ id, value, attempts }) => ({ entryId: id, job: decode(value), attempts }));
  }

  async ack(entryIds: string[]): Promise<void> {
    for (const id of entryIds) this.group.remove(id);
  }

  async touch(consumer: string, entryIds: string[]): Promise<void> {
    this.group.touch(consumer, entryIds);
  }

  async close(): Promise<void> {
    this.group.wakeAll();
  }
}

export const BATCH_STREAM = 'llmb:batch-lines';
export const BATCH_GROUP = 'batch-runners';

export interface RedisBatchQueueOptions {
  client: RedisCommands;
  /**
   * Its own connection for the blocking read, opened on the first read: a gateway, which only
   * publishes, never opens one. The queue cuts it on close.
   */
  blocking: () => RedisConnection;
  claimIdleMs: number;
  stream?: string;
  /** Holds each publish until the stream master's replicas have it; default: no wait. */
  replicaWait?: ReplicaWait;
}

/** Batch lines on a Redis Stream; acknowledged entries are deleted. */
export class RedisBatchQueue implements BatchQueue {
  readonly kind = 'redis' as const;
  private readonly stream: string;
  private readonly group: GroupReader;
  private blocking: RedisConnection | null = null;

  constructor(private readonly options: RedisBatchQueueOptions) {
    this.stream = options.stream ?? BATCH_STREAM;
    this.group = new GroupReader({
      client: options.client,
      blocking: () => {
        this.blocking ??= options.blocking();
        return this.blocking;
      },
      stream: this.stream,
      group: BATCH_GROUP,
      start: '0',
      claimIdleMs: options.claimIdleMs,
    });
  }

  async publish(jobs: BatchJob[]): Promise<void> {
    // Pipelined in slices: a 50,000-line batch is not one reply held in memory.
    for (let start = 0; start < jobs.length; start += 1000) {
      // Accepted lines must survive a failover like usage does (see ReplicaWait).
      const wait = this.options.replicaWait ?? NO_REPLICA_WAIT;
      const results = await wait.exec('batches', this.options.client, this.stream, (pipeline) => {
        for (const job of jobs.slice(start, start + 1000))
          pipeline.xadd(this.stream, '*', 'job', encode(job));
      });
      throwFailed(results);
    }
  }

  async read(consumer: string, count: number, blockMs: number): Promise<TakenJob[]> {
    const taken = await this.group.read(consumer, count, blockMs);
    return taken.map(({ entry, attempts }) => taken1(entry, attempts));
  }

  async ack(entryIds: string[]): Promise<void> {
    await ackAndDelete(this.options.client, this.stream, BATCH_GROUP, entryIds);
  }

  async touch(consumer: string, entryIds: string[]): Promise<void> {
    if (entryIds.length === 0) return;
    // XCLAIM with a min-idle of 0 and JUSTID: the idle time restarts, the count does not grow.
    await this.options.client.xclaim(this.stream, BATCH_GROUP, consumer, 0, ...entryIds, 'JUSTID');
  }

  async close(): Promise<void> {
    this.blocking?.disconnect();
  }
}

function taken1([entryId, fields]: StreamEntry, attempts: number): TakenJob {
  return { entryId, job: decode(fieldOf(fields, 'job') ?? ''), attempts };
}
