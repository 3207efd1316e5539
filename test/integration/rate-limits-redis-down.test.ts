import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.js';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { openStore } from '../helpers/limit-stores.js';
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
      { RATE_LIMIT_FAILURE_MODE: mode },
      { services: { limitStore: openStore('redis', { url: proxy.url, timeoutMs: TIMEOUT_MS }) } },
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

async function timed<T>(work: Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await work;
  return { result, ms: performance.now() - started };
}

describe('Redis stopped mid-run, failing open', () => {
  const { proxy, state } = gatewayBehindProxy('open');

  it('serves without limits while Redis is away, counts it, and limits again once back', async () => {
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
    expect(metrics).toMatch(/^rate_limit_store_errors_total [1-9]\d*$/m);

    await proxy.restore();
    // Back: the count resumes where Redis kept it (the requests in between were not counted).
    let remaining: string | null = null;
    for (let i = 0; i < 500 && remaining === null; i++) {
      const { response } = await state.client.chat.completions.create(body).withResponse();
      remaining = response.headers.get('x-ratelimit-remaining-requests');
      if (remaining === null) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(remaining).toBe('1');
    await state.client.chat.completions.create(body);
    expect((await apiError(state.client.chat.completions.create(body))).status).toBe(429);
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
