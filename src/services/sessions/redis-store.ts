import type { RedisCommands } from '../../storage/redis.js';
import type { SessionRecord, SessionStore } from './store.js';

/**
 * One hash per session, under a hash tag of its own (`{<id hash>}`), so each command touches
 * one Redis Cluster slot: `r` the record as JSON, `seen` its last use. A group is a set under
 * its own tag; it never shares a command with a session.
 */
const sessionKey = (idHash: string) => `llmb:session:{${idHash}}`;
const groupKey = (group: string) => `llmb:sessions:{${group}}`;
const pendingKey = (key: string) => `llmb:session-pending:{${key}}`;

/** KEYS[1]: the session. ARGV: last use, ttl ms. A session that is gone stays gone. */
const TOUCH = `
if redis.call('exists', KEYS[1]) == 0 then return 0 end
redis.call('hset', KEYS[1], 'seen', ARGV[1])
redis.call('pexpire', KEYS[1], ARGV[2])
return 1
`;

/** Every instance: the sessions in Redis, so any instance serves and ends any session. */
export class RedisSessionStore implements SessionStore {
  constructor(private readonly client: RedisCommands) {}

  async create(idHash: string, record: SessionRecord, groups: string[], ttlMs: number) {
    const key = sessionKey(idHash);
    const { lastSeenAt, ...fixed } = record;
    await this.client
      .multi()
      .hset(key, 'r', JSON.stringify(fixed), 'seen', String(lastSeenAt))
      .pexpire(key, ttlMs)
      .exec();
    // A group outlives its members: each new session ends last of all so far.
    const groupTtl = Math.max(1, record.expiresAt - record.createdAt);
    await Promise.all(
      groups.map((group) =>
        this.client.multi().sadd(groupKey(group), idHash).pexpire(groupKey(group), groupTtl).exec(),
      ),
    );
  }

  async get(idHash: string): Promise<SessionRecord | null> {
    const [raw, seen] = await this.client.hmget(sessionKey(idHash), 'r', 'seen');
    if (raw === null || raw === undefined || seen === null || seen === undefined) return null;
    return { ...(JSON.parse(raw) as Omit<SessionRecord, 'lastSeenAt'>), lastSeenAt: Number(seen) };
  }

  async touch(idHash: string, lastSeenAt: number, ttlMs: number): Promise<void> {
    await this.client.eval(TOUCH, 1, sessionKey(idHash), String(lastSeenAt), String(ttlMs));
  }

  async delete(idHash: string, groups: string[]): Promise<void> {
    await this.client.del(sessionKey(idHash));
    await Promise.all(groups.map((group) => this.client.srem(groupKey(group), idHash)));
  }

  async members(group: string): Promise<string[]> {
    return this.client.smembers(groupKey(group));
  }

  async putPending(key: string, value: string, ttlMs: number): Promise<void> {
    await this.client.set(pendingKey(key), value, 'PX', ttlMs);
  }

  async takePending(key: string): Promise<string | null> {
    return this.client.getdel(pendingKey(key));
  }
}
