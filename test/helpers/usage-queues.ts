import { randomBytes } from 'node:crypto';
import { MemoryUsageQueue } from '../../src/services/usage/memory-queue.js';
import type { UsageQueue } from '../../src/services/usage/queue.js';
import { RedisUsageQueue } from '../../src/services/usage/redis-queue.js';
import type { UsageEvent } from '../../src/services/usage/usage-records.js';
import { openRedis } from '../../src/storage/redis.js';
import { newId } from '../../src/utils/ids.js';
import { redisUrlFor, type StoreKind, TEST_REDIS_URL } from './limit-stores.js';

export type QueueKind = StoreKind;
/** Both queues: the same cases run on the embedded default and on the Redis Stream. */
export const QUEUE_KINDS: QueueKind[] = ['memory', 'redis'];
/** And on a Redis Cluster too, in a file that asks for the shared one (sharedCluster). */
export const CLUSTER_QUEUE_KINDS: QueueKind[] = ['memory', 'redis', 'cluster'];

/** A queue of that kind, opened as the server opens it, on a stream of its own. */
export function openQueue(
  kind: QueueKind,
  options: { claimIdleMs?: number; stream?: string; url?: string } = {},
): UsageQueue & { stream: string } {
  const stream = options.stream ?? `llmb:test:usage:${randomBytes(4).toString('hex')}`;
  const claimIdleMs = options.claimIdleMs ?? 200;
  if (kind === 'memory') return Object.assign(new MemoryUsageQueue({ claimIdleMs }), { stream });
  const url = redisUrlFor(kind, options.url);
  const redis = openRedis(url);
  const queue = new RedisUsageQueue({
    client: redis.command,
    blocking: redis.blocking('usage'),
    claimIdleMs,
    stream,
  });
  const close = queue.close.bind(queue);
  return Object.assign(queue, {
    stream,
    close: async () => {
      await close();
      await redis.close();
      await dropStream(stream, url);
    },
  });
}

/** Removes a test stream and its dead letters. */
export async function dropStream(stream: string, url = TEST_REDIS_URL): Promise<void> {
  const redis = openRedis(url);
  try {
    // One at a time: on a cluster the two live in one slot only when the stream has no tag.
    await redis.command.del(stream);
    await redis.command.del(`{${stream}}:dead`);
  } finally {
    await redis.close();
  }
}

export function usageEvent(tenantId: string, extra: Partial<UsageEvent> = {}): UsageEvent {
  return {
    id: newId('evt'),
    at: new Date(),
    requestId: newId('req'),
    tenantId,
    userId: null,
    keyId: 'key_test',
    model: 'gpt-test',
    provider: 'upstream',
    usage: {
      promptTokens: 9,
      completionTokens: 4,
      cachedTokens: 2,
      totalTokens: 13,
      estimated: false,
    },
    cost: 0.000012,
    latencyMs: 12.5,
    timeToFirstTokenMs: null,
    status: 200,
    streamed: false,
    clientDisconnected: false,
    cacheHit: false,
    savedCost: 0,
    ...extra,
  };
}
