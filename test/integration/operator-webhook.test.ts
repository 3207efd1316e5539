import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { type EventFeed, RedisEventFeed } from '../../src/services/events/event-feed.js';
import {
  type EventLog,
  MemoryEventLog,
  RedisEventLog,
} from '../../src/services/events/event-log.js';
import { MemoryEventFeed } from '../../src/services/events/memory-event-feed.js';
import { OPERATOR_GROUP } from '../../src/services/webhooks/operator-relay.js';
import { newWebhookSecret } from '../../src/services/webhooks/signing.js';
import {
  type RunningWebhookWorkers,
  startWebhookWorkers,
  WEBHOOK_GROUP,
} from '../../src/services/webhooks/webhook-workers.js';
import { eventually } from '../helpers/gateway.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';
import { verify, WebhookReceiver } from '../helpers/webhook-receiver.js';

type Kind = 'memory' | 'redis';
const quiet = { warn: () => {}, error: () => {} };

describe.each<Kind>(['memory', 'redis'])('the operator webhook on the %s event log', (kind) => {
  const receiver = new WebhookReceiver();
  const stream = `llmb:test:events:${randomBytes(4).toString('hex')}`;
  const secret = newWebhookSecret();
  const connect = () => new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  // The feeds' commands share one connection, as in a process; each blocks on its own.
  const commands = connect();
  let services: TestServices;
  let events: EventLog;
  let workers: RunningWebhookWorkers;

  const feed = (group: string): EventFeed =>
    events instanceof MemoryEventLog
      ? new MemoryEventFeed(events, { claimIdleMs: 200 })
      : new RedisEventFeed({
          client: commands,
          blocking: connect(),
          stream,
          group,
          claimIdleMs: 200,
        });

  beforeAll(async () => {
    await receiver.start();
    events =
      kind === 'memory'
        ? new MemoryEventLog()
        : new RedisEventLog({ client: connect(), stream, ownsConnection: true });
    services = await servicesOn('postgres', {
      events,
      webhooks: { allowedHosts: ['127.0.0.1'], retryBaseMs: 20, timeoutMs: 2000 },
    });
    workers = await startWebhookWorkers({
      webhooks: services.webhooks,
      tenants: services.tenants,
      feed: feed(WEBHOOK_GROUP),
      count: 1,
      log: quiet,
      pollMs: 50,
      operator: { webhook: { url: receiver.url('/ops'), secret }, feed: feed(OPERATOR_GROUP) },
    });
  }, 60_000);
  afterAll(async () => {
    await workers?.stop();
    await services?.close();
    if (kind === 'redis') await commands.del(stream);
    commands.disconnect();
    await receiver.stop();
  }, 60_000);

  it('hears every alert, signed, and no tenant business, retrying until the receiver takes it', async () => {
    receiver.answer('/ops', 503);
    await events.append({
      type: 'quota.threshold_reached',
      tenantId: 'tnt_a',
      data: { threshold: 50 },
    });
    const lag = await events.append({
      type: 'alert.event_loop_lag',
      tenantId: null,
      data: { p99_ms: 900 },
    });
    const spike = await events.append({
      type: 'alert.error_rate',
      tenantId: 'tnt_a',
      data: { model: 'm' },
    });
    const received = await eventually(() => {
      const got = receiver.at('/ops');
      expect(got.filter((item) => item.status === 200)).toHaveLength(2);
      return got;
    }, 10_000);
    // The first attempt failed; the event came again, under the same id.
    const attempts = received.map((item) => `${item.headers['webhook-id']} ${item.status}`);
    expect([...attempts].sort()).toEqual(
      [`${lag.id} 200`, `${lag.id} 503`, `${spike.id} 200`].sort(),
    );
    expect(attempts.indexOf(`${lag.id} 503`)).toBeLessThan(attempts.indexOf(`${lag.id} 200`));
    const payloads = received
      .filter((item) => item.status === 200)
      .map((item) => verify(secret, item));
    expect(payloads.map((payload) => payload.type).sort()).toEqual([
      'alert.error_rate',
      'alert.event_loop_lag',
    ]);
    expect(payloads.find((payload) => payload.type === 'alert.error_rate')?.data).toEqual({
      model: 'm',
      tenant_id: 'tnt_a',
    });
    expect(received.some((item) => item.body.includes('quota.threshold_reached'))).toBe(false);
  }, 20_000);
});

describe('the operator webhook settings', () => {
  const read = (env: Record<string, string>) => {
    const errors: string[] = [];
    return { value: readEnv(env, errors).operatorWebhook, errors };
  };

  it('takes a URL and a whsec_ secret together, or neither', () => {
    const secret = newWebhookSecret();
    expect(read({})).toEqual({ value: null, errors: [] });
    expect(
      read({ OPERATOR_WEBHOOK_URL: 'https://ops.example/hook', OPERATOR_WEBHOOK_SECRET: secret }),
    ).toEqual({
      value: { url: 'https://ops.example/hook', secret },
      errors: [],
    });
    expect(read({ OPERATOR_WEBHOOK_URL: 'https://ops.example/hook' }).errors).toEqual([
      'OPERATOR_WEBHOOK_URL and OPERATOR_WEBHOOK_SECRET go together: set both or neither',
    ]);
    const bad = read({
      OPERATOR_WEBHOOK_URL: 'ftp://ops.example',
      OPERATOR_WEBHOOK_SECRET: 'hunter2',
    });
    expect(bad.errors.join('\n')).toMatch(/OPERATOR_WEBHOOK_URL must use one of http:, https:/);
    expect(bad.errors.join('\n')).toMatch(/OPERATOR_WEBHOOK_SECRET must be a whsec_ secret/);
    expect(bad.errors.join('\n')).not.toContain('hunter2');
  });
});
