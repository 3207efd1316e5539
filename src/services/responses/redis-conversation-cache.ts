import type { RedisCommands } from '../../storage/redis.js';
import type { CachedConversation, ConversationCache } from './conversation-cache.js';

/**
 * One hash per response, `owner` and `value`, expiring with it. The whole key is the hash
 * tag: each entry is one key in one Redis Cluster slot, and a tenant's conversations spread
 * over the cluster instead of heating one node.
 */
export const conversationKey = (tenantId: string, responseId: string) =>
  `llmb:resp:{${tenantId}:${responseId}}`;

/** KEYS[1]: the entry. ARGV: the owner. Drops the entry only if that owner owns it. */
const DELETE_OWNED = `
if redis.call('hget', KEYS[1], 'owner') == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
`;

/** Every instance shares the conversations in Redis. */
export class RedisConversationCache implements ConversationCache {
  constructor(private readonly client: RedisCommands) {}

  async get(tenantId: string, responseId: string): Promise<CachedConversation | null> {
    const [owner, value] = await this.client.hmget(
      conversationKey(tenantId, responseId),
      'owner',
      'value',
    );
    return owner === null || owner === undefined || value === null || value === undefined
      ? null
      : { owner, value };
  }

  async put(
    tenantId: string,
    responseId: string,
    entry: CachedConversation,
    ttlMs: number,
  ): Promise<void> {
    const key = conversationKey(tenantId, responseId);
    if (ttlMs <= 0) {
      await this.client.del(key);
      return;
    }
    // One round trip, and never an entry without its lifetime.
    const results = await this.client
      .multi()
      .del(key)
      .hset(key, 'owner', entry.owner, 'value', entry.value)
      .pexpire(key, Math.max(1, Math.round(ttlMs)))
      .exec();
    const failed = results?.find(([error]) => error !== null);
    if (failed?.[0]) throw failed[0];
  }

  async delete(tenantId: string, responseId: string, owner: string): Promise<boolean> {
    const dropped = await this.client.eval(
      DELETE_OWNED,
      1,
      conversationKey(tenantId, responseId),
      owner,
    );
    return Number(dropped) > 0;
  }

  /** The connection is the process's, closed with the others. */
  async close(): Promise<void> {}
}
