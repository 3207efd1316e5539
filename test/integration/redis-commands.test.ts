import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatCompletion, FakeUpstream, json, sse, textChunks } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { TEST_REDIS } from '../helpers/services.js';
import type { TestServices } from '../helpers/tenant-services.js';

/**
 * What one request costs Redis, everything included: admission (the ledger's script calls
 * and every command they run inside, as INFO commandstats counts them), the usage event and
 * its worker's read, write acknowledgement and claims, the shipped request log, and the
 * background upkeep running meanwhile. Redis is shared with the other tests, so the count
 * comes from MONITOR, limited to a database number of this file's own: a script's inner
 * commands are reported under its caller's database too.
 */
const DB = 14;
const REDIS_URL = `redis://${TEST_REDIS.host}:${TEST_REDIS.port}/${DB}`;
/** Enough requests that the fixed costs (connecting, creating groups, seeding) amortize. */
const REQUESTS = 3000;
const CONCURRENCY = 32;
/** The budget per request, amortized. */
const MAX_COMMANDS_PER_REQUEST = 5;

const run = randomBytes(4).toString('hex');
const streams = { usage: `llmb:test:${run}:usage`, logs: `llmb:test:${run}:logs` };

async function admin(gateway: TestGateway, path: string, body: Record<string, unknown>) {
  const response = await gateway.fetch(`/admin/v1/tenants/test${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway.adminKey}` },
    body: JSON.stringify(body),
  });
  expect(response.status, await response.clone().text()).toBeLessThan(300);
}

async function call(client: OpenAI, streamed: boolean): Promise<void> {
  const messages = [{ role: 'user' as const, content: 'Say hello.' }];
  if (!streamed) {
    await client.chat.completions.create({ model: 'gpt-test', messages });
    return;
  }
  const stream = await client.chat.completions.create({
    model: 'gpt-test',
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const _ of stream) {
  }
}

/** Commands Redis ran for this file's database, by name, from MONITOR. */
async function countCommands(): Promise<{ counts: Map<string, number>; stop(): void }> {
  const counts = new Map<string, number>();
  // monitor() opens a connection of its own; the one it was called on is not needed after.
  const base = new Redis(REDIS_URL);
  const monitor = await base.monitor();
  base.disconnect();
  monitor.on('monitor', (_time: string, args: unknown[], _source: string, database: string) => {
    if (Number(database) !== DB) return;
    const name = String(args[0]).toLowerCase();
    counts.set(name, (counts.get(name) ?? 0) + 1);
  });
  const stop = () => {
    // Lines Redis sent before it saw the connection close still arrive once the client has
    // left the monitoring state; ioredis takes them for replies nobody asked for and emits
    // "Command queue state error". They are not counted, and that error is expected here.
    monitor.on('error', (error: Error) => {
      if (!error.message.startsWith('Command queue state error')) throw error;
    });
    monitor.disconnect();
  };
  return { counts, stop };
}

describe('Redis commands per request', () => {
  const upstream = new FakeUpstream();
  let gateway: TestGateway;

  beforeAll(async () => {
    await upstream.start();
    upstream.always(async (req, res) => {
      const body = req.body as { stream?: boolean };
      if (body.stream) return sse(res, textChunks(['Hello', ' there'], { usage: true }));
      json(res, 200, chatCompletion('Hello there'));
    });
    gateway = await startGateway(upstreamConfig(upstream.url), {
      REDIS_URL,
      USAGE_STREAM: streams.usage,
      LOG_STREAM: streams.logs,
    });
    await (gateway.services as TestServices).root.startBackground();
  }, 60_000);

  afterAll(async () => {
    await gateway?.close();
    await upstream.stop();
    const redis = new Redis(REDIS_URL);
    await redis.del(streams.usage, `{${streams.usage}}:dead`, streams.logs);
    redis.disconnect();
  }, 60_000);

  it(`stay within ${MAX_COMMANDS_PER_REQUEST} amortized, with limits, quotas, usage and log shipping on`, async () => {
    // A tenant held to every kind of counter, on the tenant and on its key, as in production.
    const limits = {
      requests_per_minute: 1_000_000_000,
      tokens_per_minute: 1_000_000_000,
      max_concurrent_requests: 1_000_000,
    };
    const keys = (await (await gateway.fetch('/admin/v1/tenants/test/api-keys')).json()) as {
      data: { id: string }[];
    };
    const keyId = keys.data[0]?.id as string;
    for (const target of [{ scope: 'tenant' }, { scope: 'key', subject_id: keyId }]) {
      await admin(gateway, '/limits', { ...target, ...limits });
      await admin(gateway, '/quotas', { ...target, metric: 'tokens', period: 'day', amount: 1e9 });
    }
    await admin(gateway, '/quotas', {
      scope: 'tenant',
      metric: 'cost',
      period: 'month',
      amount: 1e6,
    });
    const records = () =>
      gateway.services.tenants
        .get('test')
        .then((tenant) =>
          gateway.services.tenants
            .database(tenant)
            .selectFrom('usage_records')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .executeTakeFirstOrThrow(),
        )
        .then((row) => Number(row.n));

    // The admin calls above are logged too: the run's own records are the chat requests'.
    // (The polls below are counted too: a few commands in fifteen thousand.)
    const logRedis = new Redis(REDIS_URL);
    const monitor = await countCommands();
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < REQUESTS; i = next++) await call(gateway.client, i % 2 === 1);
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    // Counted until every request's usage is written: the workers' share is in.
    await eventually(async () => expect(await records()).toBe(REQUESTS), 20_000);
    // And every request log record shipped: they go in batches, the last one a moment later.
    const shipped = async () => {
      const entries = await logRedis.xrange(streams.logs, '-', '+');
      return entries.filter(([, fields]) => fields.some((f) => f.includes('/v1/chat/completions')))
        .length;
    };
    await eventually(async () => expect(await shipped()).toBe(REQUESTS), 20_000);
    logRedis.disconnect();
    monitor.stop();

    const total = [...monitor.counts.values()].reduce((sum, n) => sum + n, 0);
    const breakdown = Object.fromEntries(
      [...monitor.counts].sort((a, b) => b[1] - a[1]).map(([name, n]) => [name, n / REQUESTS]),
    );
    // One usage event and one request log record per request, each its own stream entry.
    expect(monitor.counts.get('xadd') ?? 0).toBeGreaterThanOrEqual(2 * REQUESTS);
    expect(total / REQUESTS, JSON.stringify(breakdown)).toBeLessThanOrEqual(
      MAX_COMMANDS_PER_REQUEST,
    );
  }, 60_000);
});
