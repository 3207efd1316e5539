import type { ChainableCommander } from 'ioredis';
import type { RedisCommands } from './redis.js';

/** The streams whose appends wait for replicas, each counted apart in the metrics. */
export const REPLICATED_STREAMS = ['usage', 'events', 'logs', 'batches'] as const;
export type ReplicatedStream = (typeof REPLICATED_STREAMS)[number];

/** One result per command of a pipeline, as ioredis gives them. */
export type PipelineResults = [Error | null, unknown][];

export interface ReplicaWaitOptions {
  /**
   * How many replicas must hold a write to `key`, asked at each write since replicas come
   * and go (a cluster's slot map changes with them); 0: the master's word is enough.
   */
  replicas: (key: string) => number;
  /**
   * The connection waited writes to `stream` go over, made on first use; one per stream, so
   * a large batch's waits never hold the usage publishes behind them (the waits of one
   * connection take turns).
   */
  connection: (stream: ReplicatedStream) => RedisCommands;
  /** How long a write waits for those replicas before it counts as held all the same. */
  timeoutMs: number;
}

/**
 * Holds a stream append until the replicas of its master have it (Redis `WAIT`).
 *
 * A master acknowledges a write before its replicas have it: killed in that moment, the
 * replica that takes over never had it, while whoever appended was told it was kept (an answer
 * already out, a webhook event, a batch line). WAIT counts the writes of its own connection,
 * so it ends the writes' pipeline; keyless, it follows them to the key's master on a cluster.
 * That connection is one of its own: WAIT holds it until the replicas answer, which must not
 * hold the process's other commands (the limits) behind it.
 */
export class ReplicaWait {
  private readonly shortfalls = new Map<ReplicatedStream, number>();

  constructor(private readonly options: ReplicaWaitOptions) {}

  /**
   * Sends the commands `write` puts in a pipeline (all to `key`'s slot) and returns each one's
   * result. A write fewer replicas confirmed than asked (one is down or behind) is held by the
   * master alone: retrying would not help and would append it twice, so it is counted instead.
   */
  async exec(
    stream: ReplicatedStream,
    client: RedisCommands,
    key: string,
    write: (pipeline: ChainableCommander) => void,
  ): Promise<PipelineResults> {
    const replicas = this.options.replicas(key);
    const pipeline = (replicas > 0 ? this.options.connection(stream) : client).pipeline();
    write(pipeline);
    if (replicas === 0) return ((await pipeline.exec()) ?? []) as PipelineResults;
    pipeline.wait(replicas, this.options.timeoutMs);
    const results = ((await pipeline.exec()) ?? []) as PipelineResults;
    const acks = results.pop();
    if (acks !== undefined && acks[0] === null && Number(acks[1]) < replicas)
      this.shortfalls.set(stream, this.unreplicated(stream) + 1);
    return results;
  }

  /** Every stream's count, 0s included, for the metrics. */
  counts(): [ReplicatedStream, number][] {
    return REPLICATED_STREAMS.map((stream) => [stream, this.unreplicated(stream)]);
  }

  /** Writes to `stream` no replica confirmed in time, since the process started. */
  unreplicated(stream: ReplicatedStream): number {
    return this.shortfalls.get(stream) ?? 0;
  }
}

/** For Redis without replicas to wait for: every write goes as it is. */
export const NO_REPLICA_WAIT = new ReplicaWait({
  replicas: () => 0,
  connection: () => {
    throw new Error('no replica is waited for');
  },
  timeoutMs: 0,
});

/** The first failed command's error, thrown: a pipeline resolves even when commands fail. */
export function throwFailed(results: PipelineResults): void {
  const failed = results.find(([error]) => error !== null);
  if (failed) throw failed[0];
}
