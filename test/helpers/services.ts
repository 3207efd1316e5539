import {
  type InvalidationBus,
  RedisInvalidationBus,
} from '../../src/services/keys/invalidation.js';
import { openRedis } from '../../src/storage/redis.js';

/** Where the suite finds PostgreSQL and Redis; the defaults are the dev and CI machines'. */
export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const redisUrl = new URL(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
export const TEST_REDIS = { host: redisUrl.hostname, port: Number(redisUrl.port || 6379) };

/**
 * A Redis invalidation bus over connections of its own, subscribed before it is returned;
 * its close() closes them too.
 */
export async function redisBus(): Promise<InvalidationBus> {
  const redis = openRedis(`redis://${TEST_REDIS.host}:${TEST_REDIS.port}`);
  const bus = new RedisInvalidationBus(redis);
  await bus.ready();
  return {
    publish: (message) => bus.publish(message),
    subscribe: (listener) => bus.subscribe(listener),
    close: async () => {
      await bus.close();
      await redis.close();
    },
  };
}

/**
 * Names the directory kept between runs (the blank PGlite data directory); the global setup
 * sets it, beside the per-run temporary directory that is removed at the end of each run.
 */
export const TEST_CACHE_VARIABLE = 'LLM_BACKEND_TEST_CACHE';
