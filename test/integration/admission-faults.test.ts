import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Ledger } from '../../src/services/limits/ledger.js';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { openLedger, TEST_REDIS_URL } from '../helpers/limit-stores.js';

/**
 * Redis stalled, and this process stalled, while requests are being admitted: afterwards
 * nothing is left taken in Redis, and the limits hold exactly as they say.
 */
const body = { model: 'gpt-test', messages: [{ role: 'user' as const, content: 'Hi' }] };
const TIMEOUT_MS = 100;

/** Blocks Redis for `ms`: every client waits until the script returns. */
const STALL = `
local t = redis.call('TIME')
local start = t[1] * 1000 + math.floor(t[2] / 1000)
while true do
  local n = redis.call('TIME')
  if n[1] * 1000 + math.floor(n[2] / 1000) - start >= tonumber(ARGV[1]) then break end
end
return 1`;

const upstream = new FakeUpstream();
let gate = { open: () => {}, opened: Promise.resolve() };
const redis = new Redis(TEST_REDIS_URL);

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
});
afterEach(() => {
  gate.open();
  upstream.reset();
});
afterAll(async () => {
  await upstream.stop();
  redis.disconnect();
});

async function gatewayWith(
  mode: 'open' | 'closed',
  ledger: Ledger = openLedger('redis'),
  timeoutMs = TIMEOUT_MS,
) {
  const gateway = await startGateway(
    upstreamConfig(upstream.url),
    { RATE_LIMIT_FAILURE_MODE: mode, REDIS_TIMEOUT_MS: String(timeoutMs) },
    { services: { ledger } },
  );
  return gateway;
}

/** What the ledger in Redis counts for the tenant's rule of that kind, every instance's. */
async function counted(gateway: TestGateway, kind: 'requests' | 'concurrent'): Promise<number> {
  const tenant = await gateway.services.tenants.get('test');
  const [rule] = await gateway.services.limitRules.list('test');
  return Number((await redis.hget(`llmb:rl:{${tenant.id}}:${rule?.id}:${kind}`, 's')) ?? 0);
}

async function uncheckedCount(gateway: TestGateway): Promise<number> {
  const metrics = await (await gateway.fetch('/metrics')).text();
  return Number(/^llm_backend_rate_limit_store_errors_total (\d+)$/m.exec(metrics)?.[1] ?? 0);
}

/** Fires `count` requests at once; resolves with each one's status, in order of answer. */
function burst(gateway: TestGateway, count: number): Promise<number>[] {
  return Array.from({ length: count }, () =>
    gateway.client.chat.completions.create(body).then(
      () => 200,
      (error: unknown) => (error instanceof OpenAI.APIError ? (error.status ?? 0) : -1),
    ),
  );
}

async function sequential(gateway: TestGateway, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) statuses.push(...(await Promise.all(burst(gateway, 1))));
  return statuses;
}

describe.each(['open', 'closed'] as const)('Redis stalled 500 ms, failing %s', (mode) => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await gatewayWith(mode);
    await gateway.services.limitRules.set('test', {
      scope: 'tenant',
      requestsPerMinute: 5,
      maxConcurrentRequests: 2,
    });
  }, 60_000);
  afterAll(() => gateway?.close());

  it('leaves nothing taken, and admits exactly as the limits say afterwards', async () => {
    expect(await sequential(gateway, 1)).toEqual([200]);
    // The idle slot goes back to Redis: the requests below must ask Redis for theirs.
    await eventually(async () => expect(await counted(gateway, 'concurrent')).toBe(0));
    const before = await uncheckedCount(gateway);

    gate = newGate();
    const order: string[] = [];
    const stalled = redis.eval(STALL, 0, 500).then(() => order.push('redis back'));
    const answers = burst(gateway, 3).map((answer) =>
      answer.then((status) => {
        order.push(`answer ${status}`);
        return status;
      }),
    );
    // Served without Redis (failing open), they wait at the upstream until the gate opens.
    if (mode === 'open') await eventually(() => expect(upstream.requests).toHaveLength(4));
    await stalled;
    gate.open();
    const statuses = await Promise.all(answers);
    // Every request was decided while Redis was stalled, without waiting for it.
    expect(await uncheckedCount(gateway)).toBeGreaterThanOrEqual(before + 3);
    if (mode === 'open') {
      expect(statuses).toEqual([200, 200, 200]);
    } else {
      expect(statuses).toEqual([503, 503, 503]);
      expect(order.slice(0, 3)).toEqual(['answer 503', 'answer 503', 'answer 503']);
    }

    // Nothing is left taken: no slot held, and the window counts what was served.
    const served = mode === 'open' ? 4 : 1;
    await eventually(async () => {
      expect(await counted(gateway, 'concurrent')).toBe(0);
      expect(await counted(gateway, 'requests')).toBe(served);
    }, 10_000);

    // The limits hold exactly: two at once, and five in the minute in all.
    gate = newGate();
    const held = burst(gateway, 3);
    await eventually(() => expect(upstream.requests.length).toBe(served + Math.min(2, 5 - served)));
    gate.open();
    const concurrent = await Promise.all(held);
    const atOnce = Math.min(2, 5 - served);
    expect(concurrent.filter((status) => status === 200)).toHaveLength(atOnce);
    const left = 5 - served - atOnce;
    const after = await sequential(gateway, left + 2);
    expect(after).toEqual([...Array(left).fill(200), 429, 429]);
  }, 60_000);
});

describe('a busy event loop', () => {
  let gateway: TestGateway;
  let blocks = 0;
  const ledger = openLedger('redis');
  /** Blocks this process for 300 ms right after the first ledger call went out. */
  const blocking: Ledger = {
    acquire: (call) => {
      const sent = ledger.acquire(call);
      if (blocks === 0) {
        blocks += 1;
        const until = Date.now() + 300;
        while (Date.now() < until) {
          // Synchronous on purpose: timers fire late and the answer waits in its socket.
        }
      }
      return sent;
    },
    sync: (call) => ledger.sync(call),
    close: () => ledger.close(),
  };
  beforeAll(async () => {
    // A deadline well inside the block, and wide enough that a loaded machine's Redis meets it.
    gateway = await gatewayWith('open', blocking, 250);
    await gateway.services.limitRules.set('test', { scope: 'tenant', requestsPerMinute: 10 });
  }, 60_000);
  afterAll(() => gateway?.close());

  it('is not taken for a Redis failure: it admits exactly the limit, nothing beyond', async () => {
    const before = await uncheckedCount(gateway);
    const statuses = await Promise.all(burst(gateway, 30));
    expect(blocks).toBe(1);
    expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(20);
    // Every decision came from Redis: the timer that fired during the block decided nothing.
    expect(await uncheckedCount(gateway)).toBe(before);
    expect(upstream.requests.length).toBeGreaterThanOrEqual(10);
  }, 60_000);
});
