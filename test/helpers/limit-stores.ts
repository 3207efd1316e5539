import type { Ledger } from '../../src/services/limits/ledger.js';
import { MemoryLedger } from '../../src/services/limits/memory-ledger.js';
import { RedisLedger } from '../../src/services/limits/redis-ledger.js';
import { openRedis } from '../../src/storage/redis.js';
import { testClusterUrl } from './redis-cluster.js';
import { TEST_REDIS } from './services.js';

export const TEST_REDIS_URL = `redis://${TEST_REDIS.host}:${TEST_REDIS.port}`;

/** In process, a standalone Redis, or a Redis Cluster (sharedCluster or clusterPerFile). */
export type StoreKind = 'memory' | 'redis' | 'cluster';
/** Both ledgers: the same cases run on the embedded default and on Redis. */
export const STORE_KINDS: StoreKind[] = ['memory', 'redis'];
/** And on a Redis Cluster too, in a file that asks for the shared one (sharedCluster). */
export const CLUSTER_STORE_KINDS: StoreKind[] = ['memory', 'redis', 'cluster'];

/** The Redis a store of that kind opens on, unless a test names its own. */
export function redisUrlFor(kind: StoreKind, url?: string): string {
  if (url !== undefined) return url;
  return kind === 'cluster' ? testClusterUrl() : TEST_REDIS_URL;
}

/**
 * A ledger of that kind, opened as the server opens it; a Redis one over connections of its
 * own, which close() closes.
 */
export function openLedger(
  kind: StoreKind,
  options: { clock?: () => number; url?: string } = {},
): Ledger {
  if (kind === 'memory') return new MemoryLedger({ clock: options.clock });
  const redis = openRedis(redisUrlFor(kind, options.url));
  const ledger = new RedisLedger(redis.command, { clock: options.clock });
  return {
    acquire: (call) => ledger.acquire(call),
    sync: (call) => ledger.sync(call),
    close: async () => {
      await ledger.close();
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
