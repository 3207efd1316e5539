import { Redis } from 'ioredis';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.js';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { openLedger } from '../helpers/limit-stores.js';
import { TEST_REDIS } from '../helpers/services.js';
import { CuttableProxy } from '../helpers/tcp-proxy.js';

/** How long one Redis call may take here; a dead Redis must cost no request more. */
const TIMEOUT_MS = 200;
const body = { model: 'gpt-test', messages: [{ role: 'user' as const, content: 'Hi' }] };

const upstream = new FakeUpstream();
beforeAll(async () => {
  await upstream.start();
  upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));
});
afterAll(() => upstream.stop());

/** A gateway whose rate limits reach Redis through a proxy the test can cut. */
function gatewayBehindProxy(mode: 'open' | 'closed') {
  const proxy = new CuttableProxy(TEST_REDIS.host, TEST_REDIS.port);
  const state = {} as { gateway: TestGateway; client: OpenAI };
  beforeAll(async () => {
    await proxy.start();
    state.gateway = await startGateway(
      upstreamConfig(upstream.url),
      { RATE_LIMIT_FAILURE_MODE: mode, REDIS_TIMEOUT_MS: String(TIMEOUT_MS) },
      { services: { ledger: openLedger('redis', { url: proxy.url }) } },
    );
    state.client = state.gateway.client;
    await state.gateway.services.limitRules.set('test', {
      scope: 'tenant',
      requestsPerMinute: 3,
    });
  }, 60_000);
  afterAll(async () => {
    await state.gateway?.close();
    await proxy.stop();
  });
  return { proxy, state };
}

/** What the ledger in Redis counts for the tenant's rule, all instances together. */
async function counted(gateway: TestGateway, kind: string): Promise<number> {
  const tenant = await gateway.services.tenants.get('test');
  const [rule] = await gateway.services.limitRules.list('test');
  const redis = new Redis(`redis://${TEST_REDIS.host}:${TEST_REDIS.port}`);
  try {
    return Number((await redis.hget(`llmb:rl:{${tenant.id}}:${rule?.id}:${kind}`, 's')) ?? 0);
  } finally {
    redis.disconnect();
  }
}

async function timed<T>(work: Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await work;
  return { result, ms: performance.now() - started };
}

describe('Redis stopped mid-run, failing open', () => {
  const { proxy, state } = gatewayBehindProxy('open');

  it('serves while Redis is away, counts what it served once Redis is back, and limits by it', async () => {
    const first = await state.client.chat.completions.create(body).withResponse();
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('2');

    await proxy.cut();
    for (let i = 0; i < 3; i++) {
      const { result, ms } = await timed(state.client.chat.completions.create(body).withResponse());
      expect(result.response.status).toBe(200);
      expect(result.response.headers.get('x-ratelimit-limit-requests')).toBeNull();
      // Bounded by the Redis timeout (with room for a busy machine), not by reconnect attempts.
      expect(ms).toBeLessThan(TIMEOUT_MS + 1500);
    }
    const metrics = await (await state.gateway.fetch('/metrics')).text();
    expect(metrics).toMatch(/^llm_backend_rate_limit_store_errors_total [1-9]\d*$/m);

    await proxy.restore();
    // The three served while Redis was away reach the counter once it is back: four
    // requests in the window against a limit of three.
    await eventually(async () => expect(await counted(state.gateway, 'requests')).toBe(4), 15_000);
    expect((await apiError(state.client.chat.completions.create(body))).status).toBe(429);
    expect(upstream.requests.length).toBeGreaterThanOrEqual(4);
  }, 60_000);
});

describe('Redis stopped mid-run, failing closed', () => {
  const { proxy, state } = gatewayBehindProxy('closed');

  it('refuses with 503 within the timeout while Redis is away, and serves once back', async () => {
    await state.client.chat.completions.create(body);
    await proxy.cut();
    const { result: refused, ms } = await timed(
      apiError(state.client.chat.completions.create(body)),
    );
    expect([refused.status, refused.code]).toEqual([503, 'service_unavailable']);
    expect(ms).toBeLessThan(TIMEOUT_MS + 1500);
    const before = upstream.requests.length;
    await proxy.restore();
    let served = false;
    for (let i = 0; i < 500 && !served; i++) {
      served = await state.client.chat.completions.create(body).then(
        () => true,
        async () => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          return false;
        },
      );
    }
    expect(served).toBe(true);
    // While closed, nothing reached the upstream.
    expect(upstream.requests.length).toBe(before + 1);
  }, 60_000);
});
