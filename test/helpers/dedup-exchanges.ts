import type { FlightExchange } from '../../src/services/dedup/exchange.js';
import { RedisFlightExchange } from '../../src/services/dedup/redis-exchange.js';
import { openRedis } from '../../src/storage/redis.js';
import { redisUrlFor, type StoreKind } from './limit-stores.js';

/**
 * The exchange a gateway of that kind shares answers through: none in process (its own
 * flights only), or Redis over connections of its own, which close() closes.
 */
export function openExchange(
  kind: StoreKind,
  options: { leaseMs?: number; url?: string } = {},
): FlightExchange | null {
  if (kind === 'memory') return null;
  const redis = openRedis(redisUrlFor(kind, options.url));
  const exchange = new RedisFlightExchange({
    client: redis.command,
    blocking: () => redis.blocking('dedup'),
    cluster: redis.cluster,
    leaseMs: options.leaseMs ?? 3000,
  });
  return {
    claim: (tenantId, key, candidate) => exchange.claim(tenantId, key, candidate),
    lead: (tenantId, key, leaderId) => exchange.lead(tenantId, key, leaderId),
    follow: (tenantId, key, leaderId, handlers) =>
      exchange.follow(tenantId, key, leaderId, handlers),
    close: async () => {
      await exchange.close();
      await redis.close();
    },
  };
}
