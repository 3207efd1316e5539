import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsagePublisher } from '../../src/services/usage/usage-publisher.js';
import { eventually } from '../helpers/gateway.js';
import { TEST_REDIS } from '../helpers/services.js';
import { CuttableProxy } from '../helpers/tcp-proxy.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';
import { openQueue, usageEvent } from '../helpers/usage-queues.js';

const quiet = { warn: () => {}, error: () => {} };

describe('usage publisher while Redis is away', () => {
  const proxy = new CuttableProxy(TEST_REDIS.host, TEST_REDIS.port);
  let services: TestServices;
  let tenant: string;

  beforeAll(async () => {
    await proxy.start();
    services = await servicesOn('postgres');
    tenant = (await services.tenants.create({ slug: 'acme', name: 'Acme' })).id;
  }, 60_000);
  afterAll(async () => {
    await services?.close();
    await proxy.stop();
  }, 60_000);

  const rowIds = async () =>
    (
      await services.tenants
        .database(await services.tenants.get('acme'))
        .selectFrom('usage_records')
        .select('id')
        .execute()
    ).map((row) => row.id);

  it('holds events while the queue is unreachable and publishes them, in order, when it is back', async () => {
    const queue = openQueue('redis', { url: proxy.url });
    const publisher = new UsagePublisher({
      queue,
      records: services.usageRecords,
      log: quiet,
      retryMs: 50,
    });
    try {
      await proxy.cut();
      const events = [usageEvent(tenant), usageEvent(tenant), usageEvent(tenant)];
      for (const event of events) publisher.publish(event);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(publisher.buffered).toBe(3);
      await proxy.restore();
      await eventually(() => expect(publisher.buffered).toBe(0), 10_000);
      const read = await queue.read('reader', 10, 10);
      expect(read.map((delivery) => delivery.event?.id)).toEqual(events.map((event) => event.id));
    } finally {
      await publisher.close();
      await queue.close();
    }
  }, 30_000);

  it('writes what it still holds straight to the database when it stops with the queue down', async () => {
    const queue = openQueue('redis', { url: proxy.url });
    const publisher = new UsagePublisher({
      queue,
      records: services.usageRecords,
      log: quiet,
      retryMs: 50,
    });
    try {
      await proxy.cut();
      const events = [usageEvent(tenant), usageEvent(tenant)];
      for (const event of events) publisher.publish(event);
      await publisher.close();
      expect(publisher.buffered).toBe(0);
      expect(await rowIds()).toEqual(expect.arrayContaining(events.map((event) => event.id)));
    } finally {
      await proxy.restore();
      await queue.close();
    }
  }, 30_000);
});
