import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_GROUP } from '../../src/services/batches/batch-queue.js';
import { chatCompletion, FakeUpstream, json, newGate } from '../helpers/fake-upstream.js';
import { eventually, upstreamConfig, writeConfigFile } from '../helpers/gateway.js';
import { startRole } from '../helpers/gateway-process.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { servicesOn, TEST_MASTER_KEY, type TestServices } from '../helpers/tenant-services.js';

const LINES = 1000;
const CONCURRENCY = 8;
/** The lines the upstream holds until the first worker is dead: its every slot is on them. */
const HELD = Array.from({ length: CONCURRENCY }, (_, i) => 600 + i);

/**
 * A batch of 1,000 lines through `serve` and `worker` processes on PostgreSQL and Redis, the
 * worker killed with SIGKILL while lines are in flight upstream. A second worker re-claims
 * them and finishes: every line is answered once in the output file and has one usage
 * record. Lines in flight at the kill are sent upstream again (at-least-once sending); their
 * answers are recorded once (exactly-once recording).
 */
describe('a batch through kill -9 of its worker', () => {
  const upstream = new FakeUpstream();
  const redis = new Redis(TEST_REDIS_URL);
  const children = new Set<ChildProcess>();
  const stream = `test:batch-crash:${process.pid}:${Date.now()}`;
  const usageStream = `${stream}:usage`;
  const gate = newGate();
  const sent = new Map<string, number>();
  let services: TestServices;
  let secret: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    await upstream.start();
    upstream.always(async (req, res) => {
      const content = (req.body as { messages: { content: string }[] }).messages[0]?.content ?? '';
      sent.set(content, (sent.get(content) ?? 0) + 1);
      if (content.startsWith('hold')) await gate.opened;
      json(res, 200, chatCompletion(`answer to ${content}`));
    });
    services = await servicesOn('postgres');
    await services.tenants.create({ slug: 'crash', name: 'Crash' });
    secret = (await services.keys.create('crash', { name: 'owner', role: 'owner' })).secret;
    env = {
      DATABASE_URL: services.backend.url ?? '',
      REDIS_URL: TEST_REDIS_URL,
      BATCH_STREAM: stream,
      USAGE_STREAM: usageStream,
      USAGE_WORKERS: '0',
      BATCH_CONCURRENCY: String(CONCURRENCY),
      BATCH_LINES_PER_SECOND: '0',
      // Short, so the second worker re-claims the dead one's lines within the test's patience.
      BATCH_CLAIM_IDLE_MS: '1000',
      MASTER_KEY: TEST_MASTER_KEY,
      CONFIG_FILE: writeConfigFile(upstreamConfig(upstream.url)),
      TEST_UPSTREAM_KEY: 'unused',
      PORT: '0',
    };
  }, 120_000);
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    gate.open();
    await services?.close();
    await redis.del(stream, usageStream, `${usageStream}:dead`);
    redis.disconnect();
    await upstream.stop();
  }, 120_000);

  const lines = async () =>
    services.tenants
      .database(await services.tenants.get('crash'))
      .selectFrom('batch_lines')
      .select(['idx', 'state', 'attempts'])
      .execute();

  it('answers every line once and records its usage once', async () => {
    const serve = await startRole('serve', env, children);
    const client = new OpenAI({ apiKey: secret, baseURL: `${serve.url}/v1`, maxRetries: 0 });
    const input = Array.from({ length: LINES }, (_, i) =>
      JSON.stringify({
        custom_id: `line-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: 'gpt-test',
          messages: [{ role: 'user', content: HELD.includes(i) ? `hold ${i}` : `line ${i}` }],
        },
      }),
    ).join('\n');
    const file = await client.files.create({
      file: await toFile(Buffer.from(input), 'crash.jsonl'),
      purpose: 'batch',
    });
    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const first = await startRole('worker', env, children);
    // Every slot of the first worker is on a held line: claimed, sent, not answered. A line
    // is marked running before its request leaves, so the upstream's count is waited for too.
    await eventually(async () => {
      const running = (await lines()).filter((line) => line.state === 'running');
      expect(running.map((line) => line.idx).sort((a, b) => a - b)).toEqual(HELD);
      for (const index of HELD) expect(sent.get(`hold ${index}`)).toBe(1);
    }, 240_000);
    const pending = (await redis.xpending(stream, BATCH_GROUP)) as [number, ...unknown[]];
    expect(pending[0]).toBeGreaterThanOrEqual(CONCURRENCY);
    await first.kill();
    const atKill = await lines();
    expect(atKill.filter((line) => line.state === 'running')).toHaveLength(CONCURRENCY);
    expect(atKill.filter((line) => line.state === 'done').length).toBeLessThan(LINES);
    gate.open();
    await startRole('worker', env, children);
    const batch = await eventually(async () => {
      const current = await client.batches.retrieve(created.id);
      expect(current.status).toBe('completed');
      return current;
    }, 300_000);
    expect(batch.request_counts).toEqual({ total: LINES, completed: LINES, failed: 0 });
    const output = (await (await client.files.content(batch.output_file_id ?? '')).text())
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as { custom_id: string; response: { status_code: number } });
    expect(output).toHaveLength(LINES);
    expect(new Set(output.map((line) => line.custom_id)).size).toBe(LINES);
    expect(output.every((line) => line.response.status_code === 200)).toBe(true);
    // The held lines were re-claimed and sent again; no other line was sent twice.
    const after = await lines();
    for (const index of HELD) {
      expect(after.find((line) => line.idx === index)?.attempts).toBeGreaterThanOrEqual(2);
      expect(sent.get(`hold ${index}`)).toBeGreaterThanOrEqual(2);
    }
    for (let i = 0; i < LINES; i++) if (!HELD.includes(i)) expect(sent.get(`line ${i}`)).toBe(1);
    const records = await services.tenants
      .database(await services.tenants.get('crash'))
      .selectFrom('usage_records')
      .select(['id', 'batch'])
      .execute();
    expect(records).toHaveLength(LINES);
    expect(records.every((record) => record.batch)).toBe(true);
    expect(new Set(records.map((record) => record.id)).size).toBe(LINES);
  }, 600_000);
});
