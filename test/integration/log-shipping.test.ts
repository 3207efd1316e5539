import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { RedisEventFeed } from '../../src/services/events/event-feed.js';
import { RedisEventLog } from '../../src/services/events/event-log.js';
import { AuditTail } from '../../src/services/logs/audit-tail.js';
import { LOG_STREAM_BATCH_MS } from '../../src/services/logs/log-shipping.js';
import { LOG_SINK_GROUP, LogSink } from '../../src/services/logs/log-sink.js';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import type { TestServices } from '../helpers/tenant-services.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

const quiet = { warn: () => {} };

describe('shipping request logs and audit entries through a stream to a sink', () => {
  const upstream = new FakeUpstream();
  const receiver = new WebhookReceiver();
  const stream = `llmb:test:logs:${randomBytes(4).toString('hex')}`;
  const redis = new Redis(TEST_REDIS_URL);
  const logs = new RedisEventLog({
    client: new Redis(TEST_REDIS_URL),
    stream,
    ownsConnection: true,
    // As the gateway makes it: records go in pipelines.
    batchMs: LOG_STREAM_BATCH_MS,
  });
  let gateway: TestGateway;

  beforeAll(async () => {
    await upstream.start();
    await receiver.start();
    upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));
    gateway = await startGateway(
      upstreamConfig(upstream.url),
      {},
      { services: { logStream: logs } },
    );
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await upstream.stop();
    await receiver.stop();
    await redis.del(stream, `${stream}:audit-cursors`);
    redis.disconnect();
  }, 60_000);

  const tail = () =>
    new AuditTail({
      tenants: gateway.services.tenants,
      control: (gateway.services as TestServices).backend.control,
      logs,
      redis,
      stream,
    });

  it('sends records in pipelines: each once, in order, and close() sends what still waits', async () => {
    const own = `${stream}:batched`;
    const batched = new RedisEventLog({
      client: new Redis(TEST_REDIS_URL),
      stream: own,
      ownsConnection: true,
      batchMs: LOG_STREAM_BATCH_MS,
    });
    const record = (i: number) => ({ type: 'request.completed', tenantId: null, data: { i } });
    // More than one pipeline holds: some go because a batch is full, the rest on the timer.
    const appended = await Promise.all(
      Array.from({ length: 1200 }, (_, i) => batched.append(record(i))),
    );
    const last = batched.append(record(1200));
    await batched.close();
    expect((await last).data).toEqual({ i: 1200 });
    const entries = (await redis.xrange(own, '-', '+')) as [string, string[]][];
    await redis.del(own);
    const events = entries.map(
      ([, fields]) => JSON.parse(fields[1] ?? '{}') as { id: string; data: { i: number } },
    );
    expect(events.map((event) => event.data.i)).toEqual(Array.from({ length: 1201 }, (_, i) => i));
    expect(events.slice(0, 1200).map((event) => event.id)).toEqual(
      appended.map((event) => event.id),
    );
  });

  it("appends each finished request's record to the stream", async () => {
    const { response } = await gateway.client.chat.completions
      .create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    const requestId = response.headers.get('x-request-id');
    const tenantId = (await gateway.services.tenants.get('test')).id;
    const record = await eventually(async () => {
      const found = (await logs.recent(50)).find((event) => event.data.requestId === requestId);
      if (!found) throw new Error('not shipped yet');
      return found;
    });
    expect(record).toMatchObject({
      type: 'request.completed',
      tenantId,
      data: {
        status: 200,
        model: 'gpt-test',
        route: '/v1/chat/completions',
        tokens: { total: 13 },
      },
    });
  });

  it("copies new audit entries once each, in chain order, the platform's and every tenant's", async () => {
    await tail().once();
    const { key } = await gateway.services.keys.create('test', { name: 'shipped', role: 'member' });
    await gateway.services.tenants.create({ slug: 'shipped-tenant', name: 'Shipped' });
    expect(await tail().once()).toBe(2);
    expect(await tail().once()).toBe(0);
    const audit = (await logs.recent(50)).filter((event) => event.type.startsWith('audit.'));
    expect(
      audit
        .slice(0, 2)
        .map((event) => event.type)
        .sort(),
    ).toEqual(['audit.api_key.create', 'audit.tenant.create']);
    const created = audit.find((event) => event.type === 'audit.api_key.create');
    expect(created?.data).toMatchObject({ target_id: key.id, action: 'api_key.create' });
    expect(JSON.stringify(audit)).not.toMatch(/llmb_[A-Za-z0-9]{20,}/);
  });

  it('posts the stream to the sink as JSON lines, again after the sink failed', async () => {
    receiver.answer('/logs', 500);
    const feed = new RedisEventFeed({
      client: redis,
      blocking: new Redis(TEST_REDIS_URL),
      stream,
      group: LOG_SINK_GROUP,
      claimIdleMs: 200,
    });
    // The group starts at the stream's end: what comes from now on is shipped.
    await feed.start?.();
    const sink = new LogSink({ feed, url: receiver.url('/logs'), consumer: 'sink-1', log: quiet });
    sink.start();
    try {
      const marker = await logs.append({
        type: 'request.completed',
        tenantId: null,
        data: { mark: 1 },
      });
      const shipped = await eventually(() => {
        const ok = receiver
          .at('/logs')
          .find((item) => item.status === 200 && item.body.includes(marker.id));
        if (!ok) throw new Error('not shipped yet');
        return ok;
      }, 10_000);
      expect(receiver.at('/logs')[0]?.status).toBe(500);
      expect(shipped.headers['content-type']).toBe('application/x-ndjson');
      const lines = shipped.body
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { id: string });
      expect(lines.map((line) => line.id)).toContain(marker.id);
      await eventually(async () => {
        const [pending] = (await redis.xpending(stream, LOG_SINK_GROUP)) as [number];
        expect(pending).toBe(0);
      });
    } finally {
      await sink.stop();
    }
  }, 20_000);
});

describe('the log shipping settings', () => {
  const read = (env: Record<string, string>) => {
    const errors: string[] = [];
    const { logStream, logSinkUrl } = readEnv(env, errors);
    return { logStream, logSinkUrl, errors };
  };

  it('are off by default, and need Redis and each other', () => {
    expect(read({})).toEqual({ logStream: null, logSinkUrl: null, errors: [] });
    expect(
      read({
        REDIS_URL: TEST_REDIS_URL,
        LOG_STREAM: 'llmb:logs',
        LOG_SINK_URL: 'http://vector:8080/',
      }),
    ).toEqual({
      logStream: 'llmb:logs',
      logSinkUrl: 'http://vector:8080/',
      errors: [],
    });
    expect(read({ LOG_STREAM: 'llmb:logs' }).errors).toEqual([
      'LOG_STREAM and LOG_SINK_URL need REDIS_URL: logs are shipped through a Redis Stream',
    ]);
    expect(read({ REDIS_URL: TEST_REDIS_URL, LOG_SINK_URL: 'http://vector:8080/' }).errors).toEqual(
      ['LOG_SINK_URL needs LOG_STREAM: the sink is fed from that stream'],
    );
  });
});
