import { Redis } from 'ioredis';
import {
  MemoryIdempotencyStore,
  MemoryResponseStore,
} from '../../src/services/cache/memory-store.js';
import { RedisIdempotencyStore, RedisResponseStore } from '../../src/services/cache/redis-store.js';
import type { IdempotencyStore, ResponseStore } from '../../src/services/cache/store.js';
import { type StoreKind, TEST_REDIS_URL } from './limit-stores.js';

export interface CacheStores {
  responses: ResponseStore;
  idempotency: IdempotencyStore;
  /** The Redis connection the stores use (null in memory): for tests that damage entries. */
  redis: Redis | null;
  close(): Promise<void>;
}

/** Both stores of one kind, on connections of their own that close() closes. */
export function openCacheStores(
  kind: StoreKind,
  options: { clock?: () => number; url?: string } = {},
): CacheStores {
  if (kind === 'memory') {
    const responses = new MemoryResponseStore(options.clock);
    const idempotency = new MemoryIdempotencyStore(options.clock);
    return { responses, idempotency, redis: null, close: async () => {} };
  }
  const redis = new Redis(options.url ?? TEST_REDIS_URL, {
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
  });
  redis.on('error', () => {});
  return {
    responses: new RedisResponseStore(redis, options.clock),
    idempotency: new RedisIdempotencyStore(redis),
    redis,
    close: async () => {
      redis.disconnect();
    },
  };
}
