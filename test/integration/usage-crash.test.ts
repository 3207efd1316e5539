import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProvisionalSweeper } from '../../src/services/usage/provisional-sweeper.js';
import { RedisProvisionalUsage } from '../../src/services/usage/redis-provisional-usage.js';
import { decodeUsageEvent } from '../../src/services/usage/usage-wire.js';
import { type RunningWorkers, startUsageWorkers } from '../../src/services/usage/usage-workers.js';
import { chatCompletion, FakeUpstream, json, sse, textChunks } from '../helpers/fake-upstream.js';
import { eventually, upstreamConfig, writeConfigFile } from '../helpers/gateway.js';
import { startRole } from '../helpers/gateway-process.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { servicesOn, TEST_MASTER_KEY, type TestServices } from '../helpers/tenant-services.js';
import { openQueue } from '../helpers/usage-queues.js';

const quiet = { warn: () => {}, error: () => {} };
/** Short, so a stream cut by the crash is recorded within a test's patience. */
const PROGRESS_MS = 200;

/**
 * The SDK's fetch, watching the bytes: a stream counts as received in full only once the
 * client saw `data: [DONE]` (the SDK alone does not tell a stream that ended from one cut).
 */
function watchingFetch(sawDone: Set<string>): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    const id = new Headers(init?.headers).get('x-request-id');
    const sse = response.headers.get('content-type')?.includes('text/event-stream');
    if (response.body === null || id === null || !sse) return response;
    const decoder = new TextDecoder();
    let tail = '';
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          tail = (tail + decoder.decode(chunk, { stream: true })).slice(-64);
          if (tail.includes('data: [DONE]')) sawDone.add(id);
          controller.enqueue(chunk);
        },
      }),
    );
    const { status, statusText, headers } = response;
    return new Response(body, { status, statusText, headers });
  };
}

describe('usage through kill -9 of the gateway', () => {
  const upstream = new FakeUpstream();
  const queue = openQueue('redis', { claimIdleMs: 500 });
  const redis = new Redis(TEST_REDIS_URL);
  const provisional = new RedisProvisionalUsage({ client: redis, stream: queue.stream });
  const children = new Set<ChildProcess>();
  let services: TestServices;
  let secret: string;
  let env: Record<string, string>;
  let workers: RunningWorkers;
  let sweeper: ProvisionalSweeper;

  beforeAll(async () => {
    await upstream.start();
    upstream.always((req, res) => {
      const body = req.body as { stream?: boolean; messages: { content: string }[] };
      const words = (body.messages[0]?.content ?? 'x').split(' ');
      if (body.stream) return sse(res, textChunks(words, { usage: true }), { gapMs: 5 });
      json(res, 200, chatCompletion(words.join(' ')));
    });
    services = await servicesOn('postgres');
    await services.tenants.create({ slug: 'test', name: 'Test' });
    secret = (await services.keys.create('test', { name: 'test', role: 'owner' })).secret;
    env = {
      DATABASE_URL: services.backend.url ?? '',
      REDIS_URL: TEST_REDIS_URL,
      USAGE_STREAM: queue.stream,
      // The gateway only publishes; the test's own workers and sweeper write, as a worker would.
      USAGE_WORKERS: '0',
      USAGE_PROGRESS_MS: String(PROGRESS_MS),
      // Redis answers here: every commit must land, however loaded the machine.
      USAGE_COMMIT_TIMEOUT_MS: '30000',
      MASTER_KEY: TEST_MASTER_KEY,
      CONFIG_FILE: writeConfigFile(upstreamConfig(upstream.url)),
      TEST_UPSTREAM_KEY: 'unused',
      PORT: '0',
    };
    workers = startUsageWorkers({ queue, records: services.usageRecords, count: 1, log: quiet });
    sweeper = new ProvisionalSweeper({ provisional, queue, progressMs: PROGRESS_MS, log: quiet });
    sweeper.start();
  }, 60_000);
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await sweeper?.stop();
    await workers?.stop();
    await services?.close();
    await queue.close();
    await redis.del(`{${queue.stream}}:provisional`, `{${queue.stream}}:provisional:at`);
    redis.disconnect();
    await upstream.stop();
  }, 60_000);

  async function rows() {
    return services.tenants
      .database(await services.tenants.get('test'))
      .selectFrom('usage_records')
      .selectAll()
      .execute();
  }

  /** One request; true once the client holds the whole answer (a body, or a stream's [DONE]). */
  async function call(client: OpenAI, sawDone: Set<string>, id: string, streamed: boolean) {
    const messages = [{ role: 'user' as const, content: `a b c ${id}` }];
    const options = { headers: { 'x-request-id': id } };
    if (!streamed) {
      const completion = await client.chat.completions.create(
        { model: 'gpt-test', messages },
        options,
      );
      return completion.choices.length > 0;
    }
    const stream = await client.chat.completions.create(
      { model: 'gpt-test', messages, stream: true },
      options,
    );
    for await (const _chunk of stream) {
    }
    return sawDone.has(id);
  }

  /**
   * Mixed load on a fresh gateway process, killed with SIGKILL the moment the client holds
   * the k-th whole answer, while the other clients' requests are in flight.
   */
  async function killedRound(round: number, k: number) {
    const gateway = await startRole('serve', env, children);
    const sawDone = new Set<string>();
    const client = new OpenAI({
      apiKey: secret,
      baseURL: `${gateway.url}/v1`,
      maxRetries: 0,
      fetch: watchingFetch(sawDone),
    });
    const completed: string[] = [];
    const inFlight = new Set<string>();
    let killer: string | null = null;
    let inFlightAtKill = 0;
    const loop = async (lane: number) => {
      for (let n = 0; killer === null; n++) {
        const id = `req-kill-${round}-${lane}-${n}`;
        inFlight.add(id);
        const whole = await call(client, sawDone, id, (lane + n) % 2 === 0).catch(() => false);
        inFlight.delete(id);
        if (!whole) continue;
        completed.push(id);
        if (completed.length === k && killer === null) {
          killer = id;
          inFlightAtKill = inFlight.size;
          gateway.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, lane) => loop(lane)));
    await gateway.kill();
    return { completed, killer, inFlightAtKill };
  }

  it('records exactly one usage row for every answer a client received in full', async () => {
    const received: string[] = [];
    for (let round = 0; round < 3; round++) {
      const { completed, killer, inFlightAtKill } = await killedRound(round, 20 + round * 7);
      // The kill hit work in flight, right after an answer's last byte reached its client.
      expect(killer).not.toBeNull();
      expect(inFlightAtKill).toBeGreaterThan(0);
      received.push(...completed);
    }
    const wanted = new Set(received);
    const all = await eventually(async () => {
      const all = await rows();
      expect(all.filter((row) => wanted.has(row.request_id))).toHaveLength(wanted.size);
      expect(await queue.backlog()).toBe(0);
      return all;
    }, 30_000);
    const ids = all.map((row) => row.request_id);
    // Exactly once: no request, received or cut, has two rows.
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of received) expect(ids).toContain(id);
  }, 120_000);

  it('records a stream cut by the crash with its progress, under the same event id', async () => {
    upstream.next((_req, res) =>
      sse(res, textChunks(Array.from({ length: 400 }, (_, i) => `w${i}`)), { gapMs: 25 }),
    );
    const gateway = await startRole('serve', env, children);
    const client = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const requestId = 'req-kill-mid-stream';
    const stream = await client.chat.completions.create(
      { model: 'gpt-test', messages: [{ role: 'user', content: 'long' }], stream: true },
      { headers: { 'x-request-id': requestId } },
    );
    let chunks = 0;
    const reading = (async () => {
      for await (const _chunk of stream) chunks++;
    })().catch(() => {});
    // Recorded at least twice: the record is rewritten as the stream goes on.
    const recorded = await eventually(async () => {
      const raws = await redis.hvals(`{${queue.stream}}:provisional`);
      const event = raws.map(decodeUsageEvent).find((e) => e?.requestId === requestId);
      expect(event?.usage.completionTokens).toBeGreaterThan(1);
      return event;
    }, 20_000);
    await gateway.kill();
    await reading;
    expect(chunks).toBeGreaterThan(0);
    // The stream was still running: nothing final was ever made for it.
    expect(chunks).toBeLessThan(400);
    const row = await eventually(async () => {
      const found = (await rows()).filter((r) => r.request_id === requestId);
      expect(found).toHaveLength(1);
      return found[0];
    }, 30_000);
    expect(row?.id).toBe(recorded?.id);
    expect(row?.streamed).toBe(true);
    expect(row?.estimated).toBe(true);
    expect(Number(row?.output_tokens)).toBeGreaterThanOrEqual(
      recorded?.usage.completionTokens ?? 0,
    );
    await eventually(async () => expect(await provisional.size()).toBe(0), 10_000);
  }, 90_000);
});
