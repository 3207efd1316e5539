import type { RedisCommands, RedisConnection } from '../../storage/redis.js';

/** The process's command connection, or one of its own that close() cuts (ownsConnection). */
type Client = RedisCommands & Partial<Pick<RedisConnection, 'disconnect'>>;

import { type DueEntry, type DueIndex, entryOf, Listeners, memberOf } from './due-index.js';

// Takes and leases in one step, so two dispatchers never take the same entry.
const TAKE = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[3], member) end
return due`;

/**
 * The due index as one sorted set shared by every instance and worker: member
 * `<tenant id>:<delivery id>`, score the time it is due (ms). One key, so a cluster serves it
 * from one slot.
 */
export class RedisDueIndex implements DueIndex {
  private readonly listeners = new Listeners();

  constructor(
    private readonly options: { client: Client; key: string; ownsConnection?: boolean },
  ) {}

  async schedule(entries: (DueEntry & { at: Date })[]): Promise<void> {
    if (entries.length === 0) return;
    const args = entries.flatMap((entry) => [entry.at.getTime(), memberOf(entry)]);
    await this.options.client.zadd(this.options.key, ...args);
    this.listeners.notify();
  }

  async take(now: number, count: number, leaseMs: number): Promise<DueEntry[]> {
    const members = (await this.options.client.eval(
      TAKE,
      1,
      this.options.key,
      now,
      count,
      now + leaseMs,
    )) as string[];
    return members.map(entryOf).filter((entry) => entry !== null);
  }

  async remove(entry: DueEntry): Promise<void> {
    await this.options.client.zrem(this.options.key, memberOf(entry));
  }

  async size(): Promise<number> {
    return this.options.client.zcard(this.options.key);
  }

  async next(): Promise<number | null> {
    const [, score] = await this.options.client.zrange(this.options.key, 0, 0, 'WITHSCORES');
    return score === undefined ? null : Number(score);
  }

  onSchedule(listener: () => void): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {
    if (this.options.ownsConnection) this.options.client.disconnect?.();
  }
}
