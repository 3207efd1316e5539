/** The keys and scripts of one leadership on Redis, every key under the tenant's hash tag. */

/** Renews a lease and its stream only while this leader still holds it. */
export const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
  return 1
end
return 0`;

/** Lets the entries expire soon and frees the key, unless another leader holds it by now. */
export const FINISH = `
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

export interface Keys {
  lead: string;
  stream: string;
  followers: string;
}

/**
 * The tenant's keys of one request key; the tenant in braces keeps them in one Cluster slot.
 * One stream per leadership, so a follower switching leaders never reads two answers mixed.
 */
export function keysOf(tenantId: string, key: string, leaderId: string): Keys {
  const base = `llmb:dedup:{${tenantId}}:${key}`;
  return {
    lead: `${base}:lead`,
    stream: `${base}:s:${leaderId}`,
    followers: `${base}:f:${leaderId}`,
  };
}

/** Watches by tenant (hash tag): each group's keys share a cluster slot. */
export function bySlot<T extends { keys: Keys }>(watches: T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const watch of watches) {
    const tag = watch.keys.lead.slice(0, watch.keys.lead.indexOf('}') + 1);
    const group = groups.get(tag);
    if (group === undefined) groups.set(tag, [watch]);
    else group.push(watch);
  }
  return [...groups.values()];
}
