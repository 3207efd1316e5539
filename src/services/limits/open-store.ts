import type { Redis } from 'ioredis';
import { RedisRateLimitStore } from './redis-store.js';
import type { RateLimitStore } from './store.js';

export interface RedisStoreOptions {
  /** The longest a request waits on Redis before the failure policy applies. */
  timeoutMs: number;
  /** Replaces real time (Redis's own TIME otherwise); for tests. */
  clock?: () => number;
}

/**
 * The Redis store over the process's shared connection, failing fast: a call waits at most
 * `timeoutMs`, and none is sent while the connection is down (queued for later, a check
 * replayed after an outage would take capacity for a request long gone), so no request
 * waits on a dead Redis for longer than that.
 */
export function redisRateLimitStore(client: Redis, options: RedisStoreOptions): RateLimitStore {
  const store = new RedisRateLimitStore(client, { clock: options.clock });
  const connected = readiness(client, options.timeoutMs);
  const bounded = <T>(work: () => Promise<T>) =>
    connected().then(() => withTimeout(work(), options.timeoutMs));
  return {
    acquire: (checks, leaseId, leaseMs) => bounded(() => store.acquire(checks, leaseId, leaseMs)),
    settle: (bucket, settlement, leaseId) =>
      bounded(() => store.settle(bucket, settlement, leaseId)),
    close: () => store.close(),
  };
}

async function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error('Redis did not answer in time')), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits for the connection while it is being made (at start, after an outage), at most
 * `timeoutMs`, instead of handing the command to the client's offline queue.
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
    await withTimeout(ready, timeoutMs).catch(() => {
      throw new Error('Redis is not connected');
    });
  };
}
