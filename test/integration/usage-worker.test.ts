import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { UsageQueue } from '../../src/services/usage/queue.js';
import { UsageWorker } from '../../src/services/usage/usage-worker.js';
import { eventually } from '../helpers/gateway.js';
import { TEST_DATABASE_URL } from '../helpers/services.js';
import { CuttableProxy } from '../helpers/tcp-proxy.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';
import { openQueue, QUEUE_KINDS, usageEvent } from '../helpers/usage-queues.js';

const quiet = { warn: () => {}, error: () => {} };

describe.each(QUEUE_KINDS)('usage worker on the %s queue', (kind) => {
  // The tenant `far` lives behind a proxy the tests cut: its PostgreSQL going away.
  const proxy = new CuttableProxy(
    new URL(TEST_DATABASE_URL).hostname,
    Number(new URL(TEST_DATABASE_URL).port || 5432),
  );
  let services: TestServices;
  let near: string;
  let far: string;
  let queue: UsageQueue;

  beforeAll(async () => {
    await proxy.start();
    const url = new URL(TEST_DATABASE_URL);
    url.port = String(proxy.address.port);
    services = await servicesOn('postgres', {
      servers: [{ name: 'far', url: url.toString(), replicaUrl: null }],
    });
    near = (await services.tenants.create({ slug: 'near', name: 'Near' })).id;
    far = (await services.tenants.create({ slug: 'far', name: 'Far', server: 'far' })).id;
  }, 60_000);
  afterAll(async () => {
    await services?.close();
    await proxy.stop();
  }, 60_000);
  afterEach(async () => {
    await queue?.close();
  });

  const rows = async (slug: string) =>
    services.tenants
      .database(await services.tenants.get(slug))
      .selectFrom('usage_records')
      .select(['id', 'input_tokens', 'output_tokens'])
      .execute();

  const worker = (
    consumer: string,
    extra: Partial<ConstructorParameters<typeof UsageWorker>[0]> = {},
  ) =>
    new UsageWorker({
      queue,
      records: services.usageRecords,
      consumer,
      log: quiet,
      backoffMs: 10,
      ...extra,
    });

  it('writes each tenant its own events, once, however often they are delivered', async () => {
    queue = openQueue(kind);
    const events = [usageEvent(near), usageEvent(far), usageEvent(near)];
    // The same event published twice (a publisher retrying a batch) is one row.
    await queue.publish([...events, events[0] as (typeof events)[0]]);
    await worker('w1').drain();
    expect(await queue.backlog()).toBe(0);
    const nearIds = (await rows('near')).map((row) => row.id).sort();
    expect(nearIds).toEqual([events[0]?.id, events[2]?.id].sort());
    expect((await rows('far')).map((row) => row.id)).toContain(events[1]?.id);
  });

  it("keeps events while a tenant's database is down and writes them when it is back", async () => {
    queue = openQueue(kind, { claimIdleMs: 150 });
    const before = (await rows('far')).length;
    await proxy.cut();
    const events = [usageEvent(far), usageEvent(far), usageEvent(near)];
    await queue.publish(events);
    const w = worker('w1', { maxAttempts: 2 });
    // Many more tries than maxAttempts: a database that does not answer never dead-letters.
    for (let i = 0; i < 5; i++) {
      await w.once(10);
      await new Promise((resolve) => setTimeout(resolve, 160));
    }
    expect(await queue.deadLetters(10)).toEqual([]);
    expect(await queue.backlog()).toBe(2);
    expect((await rows('near')).map((row) => row.id)).toContain(events[2]?.id);

    await proxy.restore();
    const other = worker('w2');
    await eventually(async () => {
      await other.once(10);
      expect(await queue.backlog()).toBe(0);
    }, 10_000);
    const farRows = await rows('far');
    expect(farRows).toHaveLength(before + 2);
    expect(farRows.map((row) => row.id)).toEqual(
      expect.arrayContaining([events[0]?.id, events[1]?.id]),
    );
  }, 30_000);

  it('sets aside an event that keeps failing while its database answers, and writes the rest', async () => {
    queue = openQueue(kind, { claimIdleMs: 100 });
    const good = usageEvent(near);
    // Beyond the integer column: this row alone can never be written.
    const bad = usageEvent(near, { latencyMs: 1e12 });
    const gone = usageEvent('tnt_000000000nosuchtenant');
    await queue.publish([good, bad, gone]);
    const w = worker('w1', { maxAttempts: 2 });
    await w.once(10);
    expect((await rows('near')).map((row) => row.id)).toContain(good.id);
    // A tenant that does not exist is set aside at once; the bad row after its attempts.
    expect((await queue.deadLetters(10)).map((letter) => letter.reason)).toEqual([
      'tenant not found',
    ]);
    await eventually(async () => {
      await w.once(10);
      expect(await queue.backlog()).toBe(0);
    }, 5_000);
    const dead = await queue.deadLetters(10);
    expect(dead.map((letter) => JSON.parse(letter.raw).id)).toEqual([bad.id, gone.id]);
    expect(dead[0]?.attempts).toBe(2);
    expect(dead[0]?.reason).toMatch(/out of range/);
    expect((await rows('near')).map((row) => row.id)).not.toContain(bad.id);
  }, 30_000);
});
