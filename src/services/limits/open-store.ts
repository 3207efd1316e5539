import { Redis } from 'ioredis';
import { MemoryRateLimitStore } from './memory-store.js';
import { RedisRateLimitStore } from './redis-store.js';
import type { RateLimitStore } from './store.js';

export interface OpenStoreOptions {
  /** The longest a request waits on Redis before the failure policy applies. */
  timeoutMs: number;
  /** Replaces real time (Redis's own TIME otherwise); for tests. */
  clock?: () => number;
}

/**
 * Redis when there is one (shared by every instance), the in-process store otherwise. The
 * Redis client fails fast: a command waits at most `timeoutMs`, and none is queued while the
 * connection is down (a queued check replayed after an outage would take capacity for a
 * request long gone), so no request waits on a dead Redis for longer than that.
 */
export function openRateLimitStore(
  redisUrl: string | null,
  options: OpenStoreOptions,
): RateLimitStore {
  if (redisUrl === null) return new MemoryRateLimitStore({ clock: options.clock });
  const client = new Redis(redisUrl, {
    commandTimeout: options.timeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
  });
  // Failures surface on each call, where the limiter applies the failure policy.
  client.on('error', () => {});
  const store = new RedisRateLimitStore(client, { clock: options.clock });
  const connected = readiness(client, options.timeoutMs);
  return {
    acquire: async (checks, leaseId, leaseMs) => {
      await connected();
      return store.acquire(checks, leaseId, leaseMs);
    },
    settle: async (bucket, settlement, leaseId) => {
      await connected();
      return store.settle(bucket, settlement, leaseId);
    },
    close: async () => {
      await store.close();
      client.disconnect();
    },
  };
}

/**
 * Waits for the connection while it is being made (at start, after an outage), at most
 * `timeoutMs`: without an offline queue a command sent meanwhile would fail at once.
 */
function readiness(client: Redis, timeoutMs: number): () => Promise<void> {
  let ready: Promise<void> | null = null;
  return async () => {
    if (client.status === 'ready') return;
    ready ??= new Promise<void>((resolve) => {
      client.once('ready', () => {
        ready = null;
        resolve();
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error('Redis is not connected')), timeoutMs);
    });
    try {
      await Promise.race([ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}
