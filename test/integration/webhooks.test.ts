import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisEventFeed } from '../../src/services/events/event-feed.js';
import {
  type EventLog,
  MemoryEventLog,
  RedisEventLog,
} from '../../src/services/events/event-log.js';
import { MemoryEventFeed } from '../../src/services/events/memory-event-feed.js';
import { MemoryDueIndex } from '../../src/services/webhooks/due-index.js';
import { RedisDueIndex } from '../../src/services/webhooks/redis-due-index.js';
import {
  type RunningWebhookWorkers,
  startWebhookWorkers,
  WEBHOOK_GROUP,
} from '../../src/services/webhooks/webhook-workers.js';
import { openRedis, type RedisConnection } from '../../src/storage/redis.js';
import { newId } from '../../src/utils/ids.js';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { sharedCluster, testClusterUrl } from '../helpers/redis-cluster.js';
import { verify, WebhookReceiver } from '../helpers/webhook-receiver.js';

type Kind = 'memory' | 'redis' | 'cluster';
// The Redis cases run on a real Redis Cluster too.
sharedCluster();

/** A connection of its own to the standalone Redis or to the shared cluster. */
function connectTo(kind: Kind): RedisConnection {
  if (kind === 'cluster') return openRedis(testClusterUrl()).blocking('test');
  return new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
}
const quiet = { warn: () => {}, error: () => {} };

interface Delivery {
  id: string;
  event_id: string;
  event_type: string;
  status: string;
  attempt_count: number;
  payload: { type: string; data: Record<string, unknown> };
  attempts: { status_code: number | null; error: string | null }[];
}

describe.each<Kind>(['memory', 'redis', 'cluster'])('webhooks on the %s event log', (kind) => {
  const receiver = new WebhookReceiver();
  const upstream = new FakeUpstream();
  const suffix = randomBytes(4).toString('hex');
  const stream = `llmb:test:events:${suffix}`;
  const dueKey = `llmb:test:webhooks:due:${suffix}`;
  let events: EventLog;
  let gateway: TestGateway;
  let workers: RunningWebhookWorkers | null = null;

  const connect = () => connectTo(kind);
  // The feeds' commands share one connection, as in a process; each blocks on its own.
  let commands: RedisConnection;
  /** Dispatchers as a process would start them: a fresh feed on the event log each time. */
  async function startWorkers() {
    const feed =
      events instanceof MemoryEventLog
        ? new MemoryEventFeed(events, { claimIdleMs: 500 })
        : new RedisEventFeed({
            client: commands,
            blocking: connect(),
            stream,
            group: WEBHOOK_GROUP,
            claimIdleMs: 500,
          });
    workers = await startWebhookWorkers({
      webhooks: gateway.services.webhooks,
      tenants: gateway.services.tenants,
      feed,
      count: 1,
      log: quiet,
      pollMs: 50,
    });
  }

  beforeAll(async () => {
    if (kind !== 'memory') commands = connect();
    await receiver.start();
    await upstream.start();
    upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));
    events =
      kind === 'memory'
        ? new MemoryEventLog()
        : new RedisEventLog({ client: connect(), stream, ownsConnection: true });
    gateway = await startGateway(
      upstreamConfig(upstream.url),
      {},
      {
        services: {
          events,
          dueIndex:
            kind !== 'memory'
              ? new RedisDueIndex({ client: commands, key: dueKey })
              : new MemoryDueIndex(),
          webhooks: { allowedHosts: ['127.0.0.1'], retryBaseMs: 20, timeoutMs: 2000 },
        },
      },
    );
    await startWorkers();
  }, 60_000);

  afterAll(async () => {
    await workers?.stop();
    await gateway?.close();
    await receiver.stop();
    await upstream.stop();
    if (kind !== 'memory') {
      // One at a time: on a cluster the two keys live in different slots.
      await commands.del(stream);
      await commands.del(dueKey);
      commands.disconnect();
    }
  }, 60_000);

  const admin = (path: string, init: RequestInit = {}) =>
    gateway.fetch(`/admin/v1/tenants/test${path}`, {
      ...init,
      headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    });

  async function createWebhook(body: Record<string, unknown>) {
    const response = await admin('/webhooks', { method: 'POST', body: JSON.stringify(body) });
    expect(response.status, await response.clone().text()).toBe(201);
    return (await response.json()) as { id: string; secret: string };
  }

  async function deliveries(webhook: string): Promise<Delivery[]> {
    const response = await admin(`/webhooks/${webhook}/deliveries`);
    expect(response.status).toBe(200);
    return ((await response.json()) as { data: Delivery[] }).data;
  }

  it('signs every delivery per Standard Webhooks: a test event and key events', async () => {
    const hook = await createWebhook({ url: receiver.url('/keys'), event_types: ['api_key.*'] });
    const test = await admin(`/webhooks/${hook.id}/test`, { method: 'POST' });
    expect(test.status).toBe(201);
    const testDelivery = (await test.json()) as Delivery;
    expect(testDelivery).toMatchObject({ event_type: 'webhook.test', status: 'pending' });
    const created = await admin('/api-keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'hooked', role: 'member' }),
    });
    const key = (await created.json()) as { id: string; secret: string };
    const received = await eventually(() => {
      expect(receiver.at('/keys')).toHaveLength(2);
      return receiver.at('/keys');
    }, 10_000);
    const payloads = received.map((item) => verify(hook.secret, item));
    const types = payloads.map((payload) => payload.type).sort();
    expect(types).toEqual(['api_key.created', 'webhook.test']);
    const keyEvent = payloads.find((payload) => payload.type === 'api_key.created');
    expect(keyEvent?.data).toMatchObject({ key_id: key.id, name: 'hooked', role: 'member' });
    expect(received.map((item) => item.body).join()).not.toContain(key.secret);
    const testRequest = received.find((item) => item.body.includes('webhook.test'));
    expect(testRequest?.headers['webhook-id']).toBe(testDelivery.event_id);
    expect(testRequest?.headers['content-type']).toBe('application/json');
  });

  it('retries a failing receiver until it answers 2xx, and lists every attempt', async () => {
    receiver.answer('/flaky', 500, 500);
    const hook = await createWebhook({ url: receiver.url('/flaky'), event_types: ['quota.*'] });
    await admin(`/webhooks/${hook.id}/test`, { method: 'POST' });
    const [delivery] = await eventually(async () => {
      const list = await deliveries(hook.id);
      expect(list[0]?.status).toBe('succeeded');
      return list;
    }, 10_000);
    expect(delivery?.attempt_count).toBe(3);
    expect(delivery?.payload).toMatchObject({
      type: 'webhook.test',
      data: { webhook_id: hook.id },
    });
    expect(delivery?.attempts.map((attempt) => attempt.status_code)).toEqual([500, 500, 200]);
    const received = receiver.at('/flaky');
    expect(received.map((item) => item.status)).toEqual([500, 500, 200]);
    // The same event id on every attempt, each signed afresh.
    expect(new Set(received.map((item) => item.headers['webhook-id']))).toEqual(
      new Set([delivery?.event_id]),
    );
    for (const item of received) expect(verify(hook.secret, item).type).toBe('webhook.test');
  });

  it('redelivers on request, with the same webhook-id, and audits it', async () => {
    const hook = await createWebhook({ url: receiver.url('/again'), event_types: ['quota.*'] });
    await admin(`/webhooks/${hook.id}/test`, { method: 'POST' });
    const [first] = await eventually(async () => {
      const list = await deliveries(hook.id);
      expect(list[0]?.status).toBe('succeeded');
      return list;
    }, 10_000);
    const redelivered = await admin(`/webhooks/${hook.id}/deliveries/${first?.id}/redeliver`, {
      method: 'POST',
    });
    expect(redelivered.status).toBe(200);
    expect(await redelivered.json()).toMatchObject({ status: 'pending', attempt_count: 0 });
    await eventually(() => expect(receiver.at('/again')).toHaveLength(2), 10_000);
    const ids = receiver.at('/again').map((item) => item.headers['webhook-id']);
    expect(ids).toEqual([first?.event_id, first?.event_id]);
    const [after] = await eventually(async () => {
      const list = await deliveries(hook.id);
      expect(list[0]?.status).toBe('succeeded');
      return list;
    });
    expect(after?.attempts).toHaveLength(2);
    const audit = await admin('/audit-logs?action=webhook.*');
    const actions = ((await audit.json()) as { data: { action: string }[] }).data.map(
      (entry) => entry.action,
    );
    expect(actions).toEqual(expect.arrayContaining(['webhook.created', 'webhook.redelivered']));
  });

  it('sends quota events end to end, only to active webhooks that asked for them', async () => {
    const quota = await createWebhook({ url: receiver.url('/quota'), event_types: ['quota.*'] });
    await createWebhook({ url: receiver.url('/keys-only'), event_types: ['api_key.revoked'] });
    await createWebhook({
      url: receiver.url('/off'),
      event_types: ['quota.*'],
      status: 'disabled',
    });
    // The upstream reports 13 tokens a request: one passes 10 % of 100.
    const set = await admin('/quotas', {
      method: 'POST',
      body: JSON.stringify({
        scope: 'tenant',
        metric: 'tokens',
        period: 'day',
        amount: 100,
        thresholds: [10],
      }),
    });
    expect(set.status).toBe(201);
    await gateway.client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 5,
    });
    const [received] = await eventually(() => {
      expect(receiver.at('/quota').length).toBeGreaterThan(0);
      return receiver.at('/quota');
    }, 10_000);
    const payload = verify(quota.secret, received as NonNullable<typeof received>);
    expect(payload.type).toBe('quota.threshold_reached');
    expect(payload.data).toMatchObject({ metric: 'tokens', threshold: 10, amount: 100 });
    expect(Number.isNaN(Date.parse(payload.timestamp))).toBe(false);
    expect(receiver.at('/keys-only')).toEqual([]);
    expect(receiver.at('/off')).toEqual([]);
  });

  it('shows the secret only when it is made, never in answers, logs or the database', async () => {
    const hook = await createWebhook({ url: receiver.url('/secret'), event_types: ['quota.*'] });
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const rotated = await admin(`/webhooks/${hook.id}/rotate-secret`, {
      method: 'POST',
      body: JSON.stringify({ grace_seconds: 3600 }),
    });
    const next = ((await rotated.json()) as { secret: string }).secret;
    expect(next).not.toBe(hook.secret);
    // In its grace, the old secret still verifies, as the new one does.
    await admin(`/webhooks/${hook.id}/test`, { method: 'POST' });
    const [signed] = await eventually(() => {
      expect(receiver.at('/secret')).toHaveLength(1);
      return receiver.at('/secret');
    }, 10_000);
    expect(verify(hook.secret, signed as NonNullable<typeof signed>).type).toBe('webhook.test');
    expect(verify(next, signed as NonNullable<typeof signed>).type).toBe('webhook.test');
    const answers = await Promise.all(
      [
        `/webhooks/${hook.id}`,
        '/webhooks',
        `/webhooks/${hook.id}/deliveries`,
        '/audit-logs?action=webhook.*',
      ].map(async (path) => (await admin(path)).text()),
    );
    const row = await gateway.services.tenants
      .database(await gateway.services.tenants.get('test'))
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', hook.id)
      .executeTakeFirstOrThrow();
    const seen = [...answers, JSON.stringify(gateway.logs), JSON.stringify(row)].join('\n');
    for (const secret of [hook.secret, next]) {
      expect(seen).not.toContain(secret);
      expect(seen).not.toContain(secret.slice('whsec_'.length));
    }
  });

  it('ends a delivery as failed after its last attempt', async () => {
    receiver.answer('/down', 500, 500);
    const hook = await createWebhook({ url: receiver.url('/down'), event_types: ['quota.*'] });
    const tenant = await gateway.services.tenants.get('test');
    const db = gateway.services.tenants.database(tenant);
    // A delivery seven attempts in, as the rows of a long outage leave it.
    const id = newId('dlv');
    await db
      .insertInto('webhook_deliveries')
      .values({
        id,
        endpoint_id: hook.id,
        event_id: newId('evt'),
        event_type: 'quota.exhausted',
        payload: JSON.stringify({ type: 'quota.exhausted', timestamp: new Date(), data: {} }),
        attempt_count: 7,
        next_attempt_at: new Date(),
      })
      .execute();
    await gateway.services.webhooks.due.schedule([
      { tenantId: tenant.id, deliveryId: id, at: new Date() },
    ]);
    const [delivery] = await eventually(async () => {
      const list = await deliveries(hook.id);
      expect(list[0]?.status).toBe('failed');
      return list;
    }, 10_000);
    expect(delivery).toMatchObject({ attempt_count: 8, next_attempt_at: null });
    expect(delivery?.attempts.map((attempt) => attempt.status_code)).toEqual([500]);
  });

  it('sends the retries the rows hold after a restart, whatever the due index lost', async () => {
    await workers?.stop();
    workers = null;
    const hook = await createWebhook({ url: receiver.url('/later'), event_types: ['quota.*'] });
    const db = gateway.services.tenants.database(await gateway.services.tenants.get('test'));
    // Written while no dispatcher ran, and never put in the index: only the rows know.
    await db
      .insertInto('webhook_deliveries')
      .values({
        id: newId('dlv'),
        endpoint_id: hook.id,
        event_id: newId('evt'),
        event_type: 'quota.exhausted',
        payload: JSON.stringify({ type: 'quota.exhausted', timestamp: new Date(), data: {} }),
        attempt_count: 2,
        next_attempt_at: new Date(),
      })
      .execute();
    await startWorkers();
    await eventually(() => expect(receiver.at('/later')).toHaveLength(1), 10_000);
    expect(verify(hook.secret, receiver.at('/later')[0] as never).type).toBe('quota.exhausted');
  });

  it("answers 404 for another tenant's webhooks and deliveries", async () => {
    const slug = `other-${kind}`;
    await gateway.services.tenants.create({ slug, name: 'Other' });
    const { webhook } = await gateway.services.webhooks.endpoints.create(slug, {
      url: receiver.url('/other'),
      eventTypes: ['quota.*'],
    });
    const delivery = await gateway.services.webhooks.deliveries.sendTest(slug, webhook.id);
    for (const [method, path] of [
      ['GET', `/webhooks/${webhook.id}`],
      ['DELETE', `/webhooks/${webhook.id}`],
      ['GET', `/webhooks/${webhook.id}/deliveries`],
      ['POST', `/webhooks/${webhook.id}/test`],
      ['POST', `/webhooks/${webhook.id}/deliveries/${delivery.id}/redeliver`],
    ] as const) {
      const response = await admin(path, { method });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
        'webhook_not_found',
      );
    }
    const ownHook = await createWebhook({ url: receiver.url('/own'), event_types: ['quota.*'] });
    const response = await admin(`/webhooks/${ownHook.id}/deliveries/${delivery.id}/redeliver`, {
      method: 'POST',
    });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      'delivery_not_found',
    );
  });
});

describe.each<Kind>(['memory', 'redis', 'cluster'])('the webhook due index on %s', (kind) => {
  it('counts the deliveries scheduled, due or not, for the queue depth metric', async () => {
    const key = `llmb:test:webhooks:due:${randomBytes(4).toString('hex')}`;
    const client = connectTo(kind);
    const index = kind !== 'memory' ? new RedisDueIndex({ client, key }) : new MemoryDueIndex();
    try {
      expect(await index.size()).toBe(0);
      const later = new Date(Date.now() + 3_600_000);
      await index.schedule([
        { tenantId: 'tnt_a', deliveryId: 'whd_1', at: new Date() },
        { tenantId: 'tnt_a', deliveryId: 'whd_2', at: later },
      ]);
      // Moving an entry to a new time is not a second one.
      await index.schedule([{ tenantId: 'tnt_a', deliveryId: 'whd_1', at: later }]);
      expect(await index.size()).toBe(2);
      await index.remove({ tenantId: 'tnt_a', deliveryId: 'whd_2' });
      expect(await index.size()).toBe(1);
    } finally {
      await client.del(key);
      await index.close();
      client.disconnect();
    }
  });
});
