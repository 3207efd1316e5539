import { MemoryRateLimitStore } from '../../src/services/limits/memory-store.js';
import { redisRateLimitStore } from '../../src/services/limits/open-store.js';
import type { RateLimitStore } from '../../src/services/limits/store.js';
import { openRedis } from '../../src/storage/redis.js';
import { TEST_REDIS } from './services.js';

export const TEST_REDIS_URL = `redis://${TEST_REDIS.host}:${TEST_REDIS.port}`;

export type StoreKind = 'memory' | 'redis';
/** Both stores: the same cases run on the embedded default and on Redis. */
export const STORE_KINDS: StoreKind[] = ['memory', 'redis'];

/**
 * A rate limit store of that kind, opened as the server opens it; a Redis one over
 * connections of its own, which close() closes.
 */
export function openStore(
  kind: StoreKind,
  options: { clock?: () => number; url?: string; timeoutMs?: number } = {},
): RateLimitStore {
  if (kind === 'memory') return new MemoryRateLimitStore({ clock: options.clock });
  const redis = openRedis(options.url ?? TEST_REDIS_URL);
  const store = redisRateLimitStore(redis.command, {
    timeoutMs: options.timeoutMs ?? 1000,
    clock: options.clock,
  });
  return {
    acquire: (...args) => store.acquire(...args),
    settle: (...args) => store.settle(...args),
    close: async () => {
      await store.close();
      await redis.close();
    },
  };
}

/** Real time, moved forward by `skip` whenever a test needs to be later. */
export function shiftableClock(): { now: () => number; skip(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    skip: (ms) => {
      offset += ms;
    },
  };
}
