import { connectRedis } from '../../storage/redis-client.js';
import { MemoryUsageQueue } from './memory-queue.js';
import type { UsageQueue } from './queue.js';
import { RedisUsageQueue } from './redis-queue.js';

export interface OpenUsageQueueOptions {
  claimIdleMs: number;
  /** The Redis Stream's key. */
  stream?: string;
}

/**
 * The Redis Stream when there is Redis (every instance and worker shares it), the
 * in-process queue otherwise. Commands fail after one reconnection attempt rather than
 * wait out an outage: the publisher holds events meanwhile and the worker backs off.
 */
export function openUsageQueue(
  redisUrl: string | null,
  options: OpenUsageQueueOptions,
): UsageQueue {
  if (redisUrl === null) return new MemoryUsageQueue({ claimIdleMs: options.claimIdleMs });
  return new RedisUsageQueue({
    client: connectRedis(redisUrl),
    blocking: connectRedis(redisUrl),
    claimIdleMs: options.claimIdleMs,
    stream: options.stream,
    ownsConnections: true,
  });
}
