import { Redis } from 'ioredis';
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
  const connect = () => {
    const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    // Failures surface on each call, where the publisher and the worker handle them.
    client.on('error', () => {});
    return client;
  };
  return new RedisUsageQueue({
    client: connect(),
    blocking: connect(),
    claimIdleMs: options.claimIdleMs,
    stream: options.stream,
    ownsConnections: true,
  });
}
