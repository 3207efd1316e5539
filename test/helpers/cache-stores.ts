import {
  MemoryIdempotencyStore,
  MemoryResponseStore,
} from '../../src/services/cache/memory-store.js';
import { RedisIdempotencyStore, RedisResponseStore } from '../../src/services/cache/redis-store.js';
import type { IdempotencyStore, ResponseStore } from '../../src/services/cache/store.js';
import {
  type ConversationCache,
  MemoryConversationCache,
} from '../../src/services/responses/conversation-cache.js';
import { RedisConversationCache } from '../../src/services/responses/redis-conversation-cache.js';
import { openRedis, type RedisCommands } from '../../src/storage/redis.js';
import { redisUrlFor, type StoreKind } from './limit-stores.js';

export interface CacheStores {
  responses: ResponseStore;
  idempotency: IdempotencyStore;
  /** The Redis connection the stores use (null in memory): for tests that damage entries. */
  redis: RedisCommands | null;
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
  const connections = openRedis(redisUrlFor(kind, options.url));
  const redis = connections.command;
  return {
    responses: new RedisResponseStore(redis, options.clock),
    idempotency: new RedisIdempotencyStore(redis),
    redis,
    close: () => connections.close(),
  };
}

export interface ConversationCaches {
  cache: ConversationCache;
  /** The Redis connection the cache uses (null in memory): for tests that look at entries. */
  redis: RedisCommands | null;
  close(): Promise<void>;
}

/** A conversation cache of that kind; a Redis one on a connection of its own. */
export function openConversationCache(
  kind: StoreKind,
  options: { clock?: () => number; url?: string; budgetBytes?: number } = {},
): ConversationCaches {
  if (kind === 'memory') {
    const cache = new MemoryConversationCache(options.budgetBytes, options.clock);
    return { cache, redis: null, close: () => cache.close() };
  }
  const connections = openRedis(redisUrlFor(kind, options.url));
  const redis = connections.command;
  return {
    cache: new RedisConversationCache(redis),
    redis,
    close: () => connections.close(),
  };
}
