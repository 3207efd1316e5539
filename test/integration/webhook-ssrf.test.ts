import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../src/services/events/event-log.js';
import { MemoryEventFeed } from '../../src/services/events/memory-event-feed.js';
import {
  type RunningWebhookWorkers,
  startWebhookWorkers,
} from '../../src/services/webhooks/webhook-workers.js';
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

const quiet = { warn: () => {}, error: () => {} };
const config = { providers: { mock: { type: 'mock' } }, models: [{ name: 'm', provider: 'mock' }] };

/**
 * Two instances over the same databases: `strict` has no allow-list, `allowing` names the
 * private targets the tests use. Registration and delivery are each checked on their own.
 */
describe('webhook targets on private networks (SSRF)', () => {
  const receiver = new WebhookReceiver();
  let strict: TestGateway;
  let allowing: TestGateway;
  let targets: string[];

  beforeAll(async () => {
    await receiver.start();
    strict = await startGateway(config, {}, { services: { events: new MemoryEventLog() } });
    allowing = await startGateway(
      config,
      {},
      {
        share: strict,
        services: {
          webhooks: {
            allowedHosts: ['127.0.0.1', '10.0.0.0/8', '169.254.169.254', '::1', 'localhost'],
          },
        },
      },
    );
    const port = receiver.port;
    targets = [
      `http://127.0.0.1:${port}/hook`,
      'http://10.0.0.1/hook',
      'http://169.254.169.254/latest/meta-data/',
      `http://[::1]:${port}/hook`,
      // A name, resolved: it points at the loopback interface.
      `http://localhost:${port}/hook`,
    ];
  }, 60_000);

  afterAll(async () => {
    await allowing?.close();
    await strict?.close();
    await receiver.stop();
  }, 60_000);

  const create = (gateway: TestGateway, url: string) =>
    gateway.fetch('/admin/v1/tenants/test/webhooks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url, event_types: ['quota.*'] }),
    });

  it('refuses private, loopback and link-local targets at registration', async () => {
    const refused = [
      ...targets,
      'http://[::ffff:127.0.0.1]/hook', // IPv4-mapped loopback
      'http://0x7f.1/hook', // 127.0.0.1, as URL parsers read it
      'http://100.64.0.1/hook', // carrier-grade NAT
      'http://[fd00::1]/hook', // unique local
      'http://224.0.0.1/hook', // multicast
      'ftp://example.com/hook',
      'not a url',
    ];
    for (const url of refused) {
      const response = await create(strict, url);
      const body = (await response.json()) as { error: { code: string; param: string } };
      expect([response.status, body.error.code, body.error.param], url).toEqual([
        400,
        'webhook_url_refused',
        'url',
      ]);
    }
    const list = await strict.fetch('/admin/v1/tenants/test/webhooks');
    expect(((await list.json()) as { data: unknown[] }).data).toEqual([]);
  });

  it('accepts them when the operator allows them, and refuses changing a URL to one', async () => {
    for (const url of targets) expect((await create(allowing, url)).status, url).toBe(201);
    const made = (await (await create(strict, 'http://8.8.8.8/hook')).json()) as { id: string };
    const patched = await strict.fetch(`/admin/v1/tenants/test/webhooks/${made.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: targets[0] }),
    });
    expect(patched.status).toBe(400);
    await strict.fetch(`/admin/v1/tenants/test/webhooks/${made.id}`, { method: 'DELETE' });
  });

  it('checks again at delivery: an instance without the allow-list does not connect', async () => {
    const { webhooks, tenants, events } = strict.services;
    const ids: string[] = [];
    for (const url of [`http://localhost:${receiver.port}/late`, receiver.url('/late')]) {
      const made = (await (await create(allowing, url)).json()) as { id: string };
      await allowing.services.webhooks.deliveries.sendTest('test', made.id);
      ids.push(made.id);
    }
    // The strict instance's dispatcher finds the deliveries in the rows as it starts.
    const workers: RunningWebhookWorkers = await startWebhookWorkers({
      webhooks,
      tenants,
      feed: new MemoryEventFeed(events as MemoryEventLog, { claimIdleMs: 500 }),
      count: 1,
      log: quiet,
      pollMs: 50,
    });
    try {
      for (const id of ids) {
        const attempt = await eventually(async () => {
          const page = await webhooks.deliveries.list('test', id, { limit: 1 });
          const first = page.data[0]?.attempts[0];
          if (first === undefined) throw new Error('no attempt yet');
          return first;
        }, 10_000);
        expect(attempt.statusCode).toBeNull();
        expect(attempt.error).toMatch(/not public/);
      }
      expect(receiver.at('/late')).toEqual([]);
    } finally {
      await workers.stop();
    }
  });

  it('does not follow redirects', async () => {
    receiver.answer('/moved', 302);
    const made = (await (await create(allowing, receiver.url('/moved'))).json()) as { id: string };
    const { webhooks, tenants, events } = allowing.services;
    const workers = await startWebhookWorkers({
      webhooks,
      tenants,
      feed: new MemoryEventFeed(events as MemoryEventLog, { claimIdleMs: 500 }),
      count: 1,
      log: quiet,
      pollMs: 50,
    });
    try {
      await webhooks.deliveries.sendTest('test', made.id);
      await eventually(async () => {
        const page = await webhooks.deliveries.list('test', made.id, { limit: 1 });
        expect(page.data[0]?.attempts[0]?.statusCode).toBe(302);
      }, 10_000);
      expect(receiver.at('/redirected')).toEqual([]);
    } finally {
      await workers.stop();
    }
  });
});
