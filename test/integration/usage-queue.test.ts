import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { UsageQueue } from '../../src/services/usage/queue.js';
import { sleep } from '../helpers/fake-upstream.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { sharedCluster } from '../helpers/redis-cluster.js';
import { CLUSTER_QUEUE_KINDS, openQueue, usageEvent } from '../helpers/usage-queues.js';

// The same cases on a real Redis Cluster: a MULTI or script whose keys span slots fails them.
sharedCluster();

describe.each(CLUSTER_QUEUE_KINDS)('usage queue on %s', (kind) => {
  let queue: UsageQueue;
  afterEach(() => queue?.close());

  it('hands each entry to one reader, in order, until it is acknowledged', async () => {
    queue = openQueue(kind, { claimIdleMs: 60_000 });
    const events = [usageEvent('tnt_a'), usageEvent('tnt_a'), usageEvent('tnt_b')];
    await queue.publish(events);
    expect(await queue.backlog()).toBe(3);

    const first = await queue.read('worker-1', 2, 10);
    expect(first.map((d) => d.event)).toEqual(events.slice(0, 2));
    expect(first.map((d) => d.attempts)).toEqual([1, 1]);
    // Another reader gets what is left, never what the first one holds.
    const second = await queue.read('worker-2', 10, 10);
    expect(second.map((d) => d.event?.id)).toEqual([events[2]?.id]);
    expect(await queue.read('worker-3', 10, 10)).toEqual([]);

    await queue.ack([...first, ...second].map((d) => d.id));
    expect(await queue.backlog()).toBe(0);
  });

  it('counts what is pending with a reader and what was set aside, for the metrics', async () => {
    queue = openQueue(kind, { claimIdleMs: 60_000 });
    // Before any reader: nothing is handed out (the Redis group does not exist yet).
    expect(await queue.pending()).toBe(0);
    await queue.publish([usageEvent('tnt_a'), usageEvent('tnt_a'), usageEvent('tnt_b')]);
    const taken = await queue.read('worker-1', 2, 10);
    expect([await queue.backlog(), await queue.pending(), await queue.deadLetterCount()]).toEqual([
      3, 2, 0,
    ]);
    await queue.deadLetter(taken[0] as (typeof taken)[0], 'unwritable');
    await queue.ack([taken[1]?.id as string]);
    expect([await queue.backlog(), await queue.pending(), await queue.deadLetterCount()]).toEqual([
      1, 0, 1,
    ]);
  });

  it('tells when its oldest unacknowledged entry was queued, taken or not', async () => {
    queue = openQueue(kind, { claimIdleMs: 60_000 });
    expect(await queue.oldest()).toBeNull();
    const before = Date.now();
    await queue.publish([usageEvent('tnt_a')]);
    await queue.publish([usageEvent('tnt_a')]);
    const oldest = await queue.oldest();
    expect(oldest?.getTime()).toBeGreaterThanOrEqual(before);
    expect(oldest?.getTime()).toBeLessThanOrEqual(Date.now());
    const [first, second] = await queue.read('worker-1', 2, 10);
    // Taken but not acknowledged: still the oldest.
    expect(await queue.oldest()).toEqual(oldest);
    await queue.ack([first?.id ?? '']);
    expect((await queue.oldest())?.getTime()).toBeGreaterThanOrEqual(oldest?.getTime() ?? 0);
    await queue.ack([second?.id ?? '']);
    expect(await queue.oldest()).toBeNull();
  });

  it('wakes a waiting reader when an event arrives', async () => {
    queue = openQueue(kind);
    const waiting = queue.read('worker-1', 10, 5_000);
    await sleep(50);
    const event = usageEvent('tnt_a');
    await queue.publish([event]);
    expect((await waiting).map((d) => d.event)).toEqual([event]);
  });

  it('gives an entry left unacknowledged to the next reader once idle, counting attempts', async () => {
    queue = openQueue(kind, { claimIdleMs: 150 });
    const event = usageEvent('tnt_a');
    await queue.publish([event]);
    const [taken] = await queue.read('dies', 10, 10);
    expect(taken?.attempts).toBe(1);
    // Not idle long enough yet: nobody else gets it.
    expect(await queue.read('survivor', 10, 10)).toEqual([]);
    await sleep(250);
    const [claimed] = await queue.read('survivor', 10, 10);
    expect(claimed?.event).toEqual(event);
    expect(claimed?.attempts).toBe(2);
    await queue.ack([claimed?.id as string]);
    await sleep(250);
    expect(await queue.read('another', 10, 10)).toEqual([]);
    expect(await queue.backlog()).toBe(0);
  });

  it('moves an entry to the dead letters, newest first, with the reason', async () => {
    queue = openQueue(kind);
    const events = [usageEvent('tnt_a'), usageEvent('tnt_b')];
    await queue.publish(events);
    const deliveries = await queue.read('worker-1', 10, 10);
    for (const delivery of deliveries)
      await queue.deadLetter(delivery, `bad ${delivery.event?.tenantId}`);
    expect(await queue.backlog()).toBe(0);
    const dead = await queue.deadLetters(10);
    expect(dead.map((letter) => [letter.reason, letter.attempts])).toEqual([
      ['bad tnt_b', 1],
      ['bad tnt_a', 1],
    ]);
    expect(dead.map((letter) => JSON.parse(letter.raw).id)).toEqual([events[1]?.id, events[0]?.id]);
    expect(await queue.read('worker-2', 10, 10)).toEqual([]);
  });

  it('says whether queued events outlive a restart of the queue', async () => {
    queue = openQueue(kind);
    const warning = await queue.durabilityWarning();
    if (kind === 'memory') {
      // Drained at a graceful stop instead; nothing to say at start.
      expect(warning).toBeNull();
      return;
    }
    if (kind === 'cluster') {
      // The test cluster's nodes run without the append-only file.
      expect(warning).toMatch(/appendonly/);
      return;
    }
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const aof = /^aof_enabled:1\s*$/m.test(await redis.info('persistence'));
      if (aof) expect(warning).toBeNull();
      else expect(warning).toMatch(/appendonly/);
    } finally {
      redis.disconnect();
    }
  });
});
