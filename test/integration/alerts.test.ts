import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import {
  eventually,
  startGateway,
  type TestGateway,
  upstreamConfig,
  writeConfigFile,
} from '../helpers/gateway.js';

describe('alerts through the gateway', () => {
  const upstream = new FakeUpstream();
  let gateway: TestGateway;

  beforeAll(async () => {
    await upstream.start();
    const config = {
      ...upstreamConfig(upstream.url),
      // The loop-delay alert has its own unit test; a busy test machine must not raise it here.
      alerts: {
        window_seconds: 10,
        error_rate: { threshold: 0.5, min_requests: 5 },
        event_loop: { p99_ms: 600_000 },
      },
    };
    gateway = await startGateway(config);
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await upstream.stop();
  });

  const alerts = async () =>
    (await gateway.services.events.recent(100)).filter((event) => event.type.startsWith('alert.'));

  it('stays quiet while the model answers', async () => {
    upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));
    for (let i = 0; i < 8; i++)
      await gateway.client.chat.completions.create({
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'hi' }],
      });
    // Long enough for the monitor to judge the window more than once.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    expect(await alerts()).toEqual([]);
  });

  it("raises one error-rate alert for the tenant's failing model, however many failures", async () => {
    upstream.always((_req, res) =>
      json(res, 500, { error: { message: 'boom', type: 'server_error' } }),
    );
    const tenantId = (await gateway.services.tenants.get('test')).id;
    const fail = async (count: number) => {
      for (let i = 0; i < count; i++)
        await gateway.client.chat.completions
          .create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] })
          .catch(() => {});
    };
    await fail(12);
    const [alert] = await eventually(async () => {
      const found = await alerts();
      expect(found).toHaveLength(1);
      return found;
    }, 10_000);
    expect(alert).toMatchObject({
      type: 'alert.error_rate',
      tenantId,
      data: { model: 'gpt-test', threshold: 0.5 },
    });
    await fail(12);
    await new Promise((resolve) => setTimeout(resolve, 3500));
    expect((await alerts()).map((event) => event.type)).toEqual(['alert.error_rate']);
    expect(
      gateway.logs.some((log) => log.msg === 'event' && log.event === 'alert.error_rate'),
    ).toBe(true);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toContain('llm_backend_events_total{type="alert.error_rate"} 1');
    expect(metrics).toMatch(/^llm_backend_usage_events_buffered 0$/m);
    expect(metrics).toMatch(/^llm_backend_usage_queue_backlog \d+$/m);
  }, 30_000);
});

describe('the alerts section of the config file', () => {
  it('refuses unknown fields and bad values, naming them', () => {
    const file = writeConfigFile({
      ...upstreamConfig('http://127.0.0.1:1/v1'),
      alerts: { window_seconds: 1, error_rate: { threshold: 2 }, typo: true },
    });
    try {
      loadConfig({ CONFIG_FILE: file, TEST_UPSTREAM_KEY: 'x' });
      expect.unreachable('the config was accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).toMatch(/\/alerts\/window_seconds/);
      expect(message).toMatch(/\/alerts\/error_rate\/threshold/);
      expect(message).toMatch(/\/alerts\/typo: Unexpected property/);
    }
  });

  it('fills in defaults when the section is left out', () => {
    const config = loadConfig({
      CONFIG_FILE: writeConfigFile(upstreamConfig('http://127.0.0.1:1/v1')),
      TEST_UPSTREAM_KEY: 'x',
    });
    expect(config.alerts).toMatchObject({
      windowMs: 60_000,
      errorRate: { threshold: 0.5, minRequests: 20 },
    });
  });
});
