import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ProvisionalSweeper } from '../../src/services/usage/provisional-sweeper.js';
import {
  MemoryProvisionalUsage,
  type ProvisionalUsage,
} from '../../src/services/usage/provisional-usage.js';
import { RedisProvisionalUsage } from '../../src/services/usage/redis-provisional-usage.js';
import { openRedis, type RedisConnections } from '../../src/storage/redis.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { sharedCluster, testClusterUrl } from '../helpers/redis-cluster.js';
import {
  CLUSTER_QUEUE_KINDS,
  openQueue,
  type QueueKind,
  usageEvent,
} from '../helpers/usage-queues.js';

const quiet = { warn: () => {} };
const PERIOD = 1000;

const redis = new Redis(TEST_REDIS_URL);
const streams: string[] = [];
afterAll(async () => {
  for (const stream of streams)
    await redis.del(`{${stream}}:provisional`, `{${stream}}:provisional:at`);
  redis.disconnect();
  await onCluster?.close();
});
// The same cases on a real Redis Cluster: the claim script's keys must share a slot.
sharedCluster();
let onCluster: RedisConnections | null = null;

/** Progress records of that kind, next to a usage stream of their own. */
function open(kind: QueueKind): { provisional: ProvisionalUsage; stream: string } {
  const stream = `llmb:test:usage:${randomBytes(4).toString('hex')}`;
  streams.push(stream);
  if (kind === 'memory') return { provisional: new MemoryProvisionalUsage(), stream };
  if (kind === 'cluster') {
    onCluster ??= openRedis(testClusterUrl());
    return {
      provisional: new RedisProvisionalUsage({ client: onCluster.command, stream }),
      stream,
    };
  }
  return { provisional: new RedisProvisionalUsage({ client: redis, stream }), stream };
}

describe.each(CLUSTER_QUEUE_KINDS)('running streams’ usage records (%s)', (kind) => {
  it('keeps the last record per event, and forgets it once settled', async () => {
    const { provisional } = open(kind);
    const event = usageEvent('tnt_progress', { streamed: true });
    await provisional.record(event, 1_000);
    const later = { ...event, usage: { ...event.usage, completionTokens: 40, totalTokens: 49 } };
    await provisional.record(later, 2_000);
    expect(await provisional.size()).toBe(1);
    const [taken] = await provisional.claimOrphans(3_000, 9_000, 10);
    expect(taken?.id).toBe(event.id);
    expect(taken?.usage.completionTokens).toBe(40);
    await provisional.settle(event.id);
    expect(await provisional.size()).toBe(0);
    expect(await provisional.claimOrphans(100_000, 200_000, 10)).toEqual([]);
  });

  it('hands out only records older than the bound, each once per lease', async () => {
    const { provisional } = open(kind);
    const old = usageEvent('tnt_progress', { streamed: true });
    const fresh = usageEvent('tnt_progress', { streamed: true });
    await provisional.record(old, 1_000);
    await provisional.record(fresh, 5_000);
    const first = await provisional.claimOrphans(5_000, 8_000, 10);
    expect(first.map((event) => event.id)).toEqual([old.id]);
    // Leased: a second sweeper finds nothing until the lease is over, then takes it again.
    expect(await provisional.claimOrphans(5_000, 8_000, 10)).toEqual([]);
    const again = await provisional.claimOrphans(8_001, 12_000, 10);
    expect(again.map((event) => event.id).sort()).toEqual([old.id, fresh.id].sort());
  });

  it('sweeps orphaned records into the queue once, under their own event ids', async () => {
    const { provisional } = open(kind);
    const queue = openQueue(kind);
    let now = 10_000;
    const sweeper = new ProvisionalSweeper({
      provisional,
      queue,
      progressMs: PERIOD,
      log: quiet,
      clock: () => now,
    });
    try {
      const orphan = usageEvent('tnt_progress', { streamed: true });
      const live = usageEvent('tnt_progress', { streamed: true });
      await provisional.record(orphan, now);
      await provisional.record(live, now);
      now += 3 * PERIOD + 1;
      await provisional.record(live, now);
      expect(await sweeper.sweep()).toBe(1);
      expect(await sweeper.sweep()).toBe(0);
      const queued = await queue.read('reader', 10, 10);
      expect(queued.map((delivery) => delivery.event?.id)).toEqual([orphan.id]);
      expect(queued[0]?.event?.usage).toEqual(orphan.usage);
      expect(await provisional.size()).toBe(1);
    } finally {
      await queue.close();
    }
  });
});
