import { afterAll, beforeAll } from 'vitest';
import { DEADLINE_MS, type RedisCluster, startRedisCluster } from './redis-cluster-nodes.js';
import { runResource } from './run-resource.js';

export { type RedisCluster, startRedisCluster };

let shared: RedisCluster | null = null;
let sharedUrl: string | null = null;

/**
 * One cluster for the test file, started once before its tests and stopped after them; the
 * stores' helpers open their `cluster` kind on it. Only for a file that harms its cluster
 * (kills a node); the others use the run's shared one (sharedCluster).
 */
export function clusterPerFile(): () => RedisCluster {
  beforeAll(async () => {
    shared = await startRedisCluster();
  }, DEADLINE_MS * 2);
  afterAll(async () => {
    await shared?.stop();
    shared = null;
  });
  return () => {
    if (shared === null) throw new Error('the Redis cluster is not started (clusterPerFile)');
    return shared;
  };
}

/**
 * The run's one Redis Cluster, which every file that only stores and reads on it shares:
 * its URL is asked for before the file's tests (the first ask starts the cluster). Files
 * keep to keys of their own (random names and hash tags), as on the shared standalone Redis,
 * and never empty the cluster nor harm its nodes.
 */
export function sharedCluster(): void {
  beforeAll(async () => {
    sharedUrl = await runResource('redis-cluster');
  }, DEADLINE_MS * 2);
}

/** The cluster's URL for the stores' helpers; only in a file that called one of the above. */
export function testClusterUrl(): string {
  const url = shared?.url ?? sharedUrl;
  if (url === null)
    throw new Error('no Redis cluster for this file: call sharedCluster() (or clusterPerFile())');
  return url;
}
