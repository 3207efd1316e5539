import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openRedis } from '../../src/storage/redis.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';

describe("the Redis connections' metrics", () => {
  it('time every command, pipelined ones each, count failures, and not the readers cut at close', async () => {
    const timed: string[] = [];
    const failed: string[] = [];
    const redis = openRedis(TEST_REDIS_URL, {
      observer: {
        command: (connection) => timed.push(connection),
        error: (connection) => failed.push(connection),
      },
    });
    const key = `llmb:test:redis-metrics:${randomBytes(4).toString('hex')}`;
    try {
      await redis.command.set(key, '1');
      const before = timed.length;
      await redis.command.pipeline().get(key).get(key).get(key).exec();
      expect(timed.length - before).toBe(3);
      await expect(redis.command.call('NO_SUCH_COMMAND')).rejects.toThrow();
      expect(failed).toEqual(['command']);
      // A blocking read is not timed: it waits by design.
      const reader = redis.blocking('reader');
      const timedBefore = timed.length;
      const blocked = reader
        .xread('BLOCK', 10_000, 'STREAMS', `${key}:stream`, '$')
        .catch(() => null);
      await redis.command.del(key);
      expect(timed.length).toBe(timedBefore + 1);
      await redis.close();
      await blocked;
      expect(failed).toEqual(['command']);
    } finally {
      await redis.close();
    }
  });
});
