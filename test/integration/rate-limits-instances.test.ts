import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tokensToReserve } from '../../src/services/limits/reservation.js';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { openLedger, TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { redisBus } from '../helpers/services.js';

/**
 * Three gateway instances over one database and one Redis, hammered at once: what they admit
 * together never exceeds a limit, and reaches it, at small limits (decided in Redis request
 * by request) and large ones (mostly from leased capacity). The upstream holds every
 * admitted request until all were decided, so no usage correction frees capacity during the
 * burst.
 */
const upstream = new FakeUpstream();
let instances: [TestGateway, TestGateway, TestGateway];
let gate: { open: () => void; opened: Promise<void> };

function newGate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

beforeAll(async () => {
  await upstream.start();
  upstream.always(async (_req, res) => {
    await gate.opened;
    json(res, 200, chatCompletion('ok'));
  });
  const config = upstreamConfig(upstream.url);
  const services = async () => ({ ledger: openLedger('redis'), bus: await redisBus() });
  // What this suite shows is exactness with Redis answering; on a busy machine a call may
  // take longer than the default deadline, which would decide requests without it.
  const env = { REDIS_TIMEOUT_MS: '30000' };
  const first = await startGateway(config, env, { services: await services() });
  const second = await startGateway(config, env, { services: await services(), share: first });
  const third = await startGateway(config, env, { services: await services(), share: first });
  instances = [first, second, third];
}, 60_000);

afterAll(async () => {
  gate?.open();
  for (const instance of instances ?? []) await instance.close();
  await upstream.stop();
});

afterEach(async () => {
  // Every decision of the test came from Redis: none was taken without it.
  for (const instance of instances) {
    const metrics = await (await instance.fetch('/metrics')).text();
    expect(metrics).toMatch(/^llm_backend_rate_limit_store_errors_total 0$/m);
  }
  upstream.reset();
  for (const rule of await instances[0].services.limitRules.list('test'))
    await instances[0].services.limitRules.delete('test', rule.id);
  for (const quota of await instances[0].services.quotas.list('test'))
    await instances[0].services.quotas.delete('test', quota.id);
  // Counters of `total` quotas never expire by themselves.
  const tenantId = (await instances[0].services.tenants.get('test')).id;
  const redis = new Redis(TEST_REDIS_URL);
  const keys = await redis.keys(`llmb:q:{${tenantId}}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const body = {
  model: 'gpt-test',
  messages: [{ role: 'user' as const, content: 'Hello there' }],
  max_tokens: 200,
};

/**
 * How many of `body` fit in `limit` tokens: as many as fit with the reservation's byte bound,
 * then as many more as fit in what is left counted exactly, as a refused bound is recounted.
 */
async function fitting(limit: number): Promise<{ each: number; fits: number }> {
  const tokens = (r: { promptTokens: number; completionTokens: number }) =>
    r.promptTokens + r.completionTokens;
  const each = tokens(await tokensToReserve('chat', body, 1024));
  const exactEach = tokens(await tokensToReserve('chat', body, 1024, true));
  expect(exactEach).toBeLessThan(each);
  return { each, fits: Math.floor(limit / each) + Math.floor((limit % each) / exactEach) };
}

/** Fires `total` requests spread over the instances; counts what each outcome got. */
async function hammer(total: number): Promise<{ admitted: number; refused: number }> {
  gate = newGate();
  const clients = instances.map(
    (instance) =>
      new OpenAI({ apiKey: instance.apiKey, baseURL: `${instance.url}/v1`, maxRetries: 0 }),
  );
  let refused = 0;
  const calls = Array.from({ length: total }, (_, i) =>
    (clients[i % clients.length] as OpenAI).chat.completions.create(body).then(
      () => 'admitted' as const,
      (error: unknown) => {
        if (!(error instanceof OpenAI.RateLimitError)) throw error;
        refused += 1;
        return 'refused' as const;
      },
    ),
  );
  // Every request is decided once it was refused or reached the upstream.
  for (let i = 0; i < 3000 && refused + upstream.requests.length < total; i++)
    await new Promise((resolve) => setTimeout(resolve, 10));
  gate.open();
  const outcomes = await Promise.all(calls);
  return { admitted: outcomes.filter((o) => o === 'admitted').length, refused };
}

async function setLimit(limit: Record<string, unknown>) {
  await instances[0].services.limitRules.set('test', { scope: 'tenant', ...limit });
}

describe('three instances sharing one Redis', () => {
  it('admit exactly requests_per_minute between them', async () => {
    await setLimit({ requestsPerMinute: 100 });
    const { admitted, refused } = await hammer(300);
    expect(admitted).toBe(100);
    expect(refused).toBe(200);
    expect(upstream.requests).toHaveLength(100);
  }, 60_000);

  it('reserve no more than tokens_per_minute between them, and nearly all of it', async () => {
    const limit = 20_000;
    await setLimit({ tokensPerMinute: limit });
    const { each, fits } = await fitting(limit);
    const { admitted } = await hammer(200);
    expect(admitted).toBeLessThanOrEqual(fits);
    expect(admitted * each).toBeGreaterThanOrEqual(0.99 * limit - each);
    expect(upstream.requests).toHaveLength(admitted);
  }, 60_000);

  it('reserve no more than a token quota between them, and nearly all of it', async () => {
    const amount = 20_000;
    await instances[0].services.quotas.set('test', {
      scope: 'tenant',
      metric: 'tokens',
      period: 'total',
      amount,
    });
    const { each, fits } = await fitting(amount);
    const { admitted } = await hammer(200);
    expect(admitted).toBeLessThanOrEqual(fits);
    expect(admitted * each).toBeGreaterThan(amount - each);
    expect(upstream.requests).toHaveLength(admitted);
  }, 60_000);

  it('hold max_concurrent_requests between them', async () => {
    await setLimit({ maxConcurrentRequests: 20 });
    const { admitted } = await hammer(120);
    expect(admitted).toBe(20);
  }, 60_000);

  it('admit exactly a large requests_per_minute between them', async () => {
    await setLimit({ requestsPerMinute: 600 });
    const { admitted, refused } = await hammer(800);
    expect([admitted, refused]).toEqual([600, 200]);
    expect(upstream.requests).toHaveLength(600);
  }, 120_000);

  it('hold a large max_concurrent_requests between them', async () => {
    await setLimit({ maxConcurrentRequests: 300 });
    const { admitted } = await hammer(450);
    expect(admitted).toBe(300);
  }, 120_000);

  it('reserve exactly what fits of a large tokens_per_minute between them', async () => {
    const { each } = await fitting(0);
    const limit = 500 * each + each - 1;
    await setLimit({ tokensPerMinute: limit });
    const { admitted } = await hammer(650);
    expect(admitted).toBe((await fitting(limit)).fits);
    expect(upstream.requests).toHaveLength(admitted);
  }, 120_000);

  it('see a limit set through the other instance at once', async () => {
    gate = newGate();
    gate.open();
    const rule = await instances[0].services.limitRules.set('test', {
      scope: 'tenant',
      requestsPerMinute: 1,
    });
    const other = new OpenAI({
      apiKey: instances[1].apiKey,
      baseURL: `${instances[1].url}/v1`,
      maxRetries: 0,
    });
    // Instance 1 cached no rule before; the announcement reaches it within moments.
    let limited = false;
    for (let i = 0; i < 100 && !limited; i++) {
      const { response } = await other.chat.completions.create(body).withResponse();
      limited = response.headers.get('x-ratelimit-limit-requests') === '1';
      if (!limited) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(limited).toBe(true);
    expect(rule.created).toBe(true);
  }, 30_000);
});
