import { Redis } from 'ioredis';
import OpenAI, { toFile } from 'openai';
import { afterAll, it as base, beforeAll, describe, expect } from 'vitest';
import { type BatchQueue, RedisBatchQueue } from '../../src/services/batches/batch-queue.js';
import { apiError } from '../helpers/api-error.js';
import type { BackendKind } from '../helpers/databases.js';
import { chatCompletion, FakeUpstream, json, newGate } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { expectOpenAISchema } from '../helpers/openai-schema.js';
import type { TestServices } from '../helpers/tenant-services.js';

/**
 * OpenAI's Batch API through the official SDK, run by the gateway's own process (no Redis
 * workers): on PostgreSQL and PGlite with the in-process queue, and on PostgreSQL with the
 * batch lines on a Redis Stream. The same cases on each.
 */
/** The machine running the suite is shared: each case gets minutes, not the default seconds. */
const it = (name: string, fn: () => Promise<void>) => base(name, fn, 180_000);

type Setup = { database: BackendKind; queue: 'memory' | 'redis' };
const SETUPS: Setup[] = [
  { database: 'postgres', queue: 'memory' },
  { database: 'pglite', queue: 'memory' },
  { database: 'postgres', queue: 'redis' },
];

type Line = Record<string, unknown>;
const chatLine = (id: string, content: string, model = 'gpt-test'): Line => ({
  custom_id: id,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model, messages: [{ role: 'user', content }] },
});
const fileOf = (lines: (Line | string)[]) =>
  Buffer.from(
    lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n'),
  );

const redisQueues: { queue: RedisBatchQueue; stream: string }[] = [];
function batchQueueFor(setup: Setup): BatchQueue | undefined {
  if (setup.queue === 'memory') return undefined;
  const stream = `test:batches:${process.pid}:${Date.now()}:${redisQueues.length}`;
  const queue = new RedisBatchQueue({
    client: new Redis(TEST_REDIS_URL),
    blocking: () => new Redis(TEST_REDIS_URL),
    claimIdleMs: 30_000,
    stream,
  });
  redisQueues.push({ queue, stream });
  return queue;
}

async function startBatchGateway(setup: Setup, upstreamUrl: string, env: Record<string, string>) {
  const gateway = await startGateway(
    upstreamConfig(upstreamUrl),
    { BATCH_LINES_PER_SECOND: '0', BATCH_CONCURRENCY: '4', ...env },
    { database: setup.database, services: { batchQueue: batchQueueFor(setup) } },
  );
  // The one process without Redis workers runs the batch lines itself.
  await (gateway.services as TestServices).root.startBackground();
  return gateway;
}

describe.each(SETUPS)('the Batch API on $database with the $queue queue', (setup) => {
  const upstream = new FakeUpstream();
  let gateway: TestGateway;
  let tenants = 0;

  beforeAll(async () => {
    await upstream.start();
    upstream.always((req, res) => {
      const body = req.body as { input?: unknown; messages?: { content: string }[] };
      if (req.url.endsWith('/embeddings'))
        return json(res, 200, {
          object: 'list',
          data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }],
          model: 'upstream-embed',
          usage: { prompt_tokens: 3, total_tokens: 3 },
        });
      json(res, 200, chatCompletion(`echo ${body.messages?.[0]?.content ?? ''}`));
    });
    gateway = await startBatchGateway(setup, upstream.url, {});
  }, 180_000);
  afterAll(async () => {
    await gateway?.close();
    await upstream.stop();
    for (const { queue, stream } of redisQueues.splice(0)) {
      const redis = new Redis(TEST_REDIS_URL);
      await redis.del(stream);
      redis.disconnect();
      await queue.close();
    }
  }, 60_000);

  /** A tenant of its own per test, so no test sees what another stored. */
  const freshTenant = async (target: TestGateway = gateway) => {
    const slug = `batches-${setup.database}-${setup.queue}-${++tenants}`;
    await target.services.tenants.create({ slug, name: slug });
    const { secret } = await target.services.keys.create(slug, { name: 'owner', role: 'owner' });
    const client = new OpenAI({ apiKey: secret, baseURL: `${target.url}/v1`, maxRetries: 0 });
    const upload = async (lines: (Line | string)[]) =>
      client.files.create({ file: await toFile(fileOf(lines), 'input.jsonl'), purpose: 'batch' });
    const ended = (id: string) =>
      eventually(async () => {
        const batch = await client.batches.retrieve(id);
        expect(['completed', 'cancelled', 'expired', 'failed']).toContain(batch.status);
        return batch;
      }, 60_000);
    const lines = async (fileId: string | null | undefined) => {
      if (!fileId) return [];
      const text = await (await client.files.content(fileId)).text();
      return text
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    };
    const db = async () =>
      target.services.tenants.database(await target.services.tenants.get(slug));
    const usage = async () => (await db()).selectFrom('usage_records').selectAll().execute();
    return { slug, client, upload, ended, lines, usage, db };
  };

  it('runs a chat batch: good lines answered once, bad lines in the error file', async () => {
    const t = await freshTenant();
    const good = Array.from({ length: 20 }, (_, i) => chatLine(`req-${i}`, `hello ${i}`));
    const file = await t.upload([
      ...good,
      '{not json',
      chatLine('req-3', 'a duplicate custom_id'),
      { ...chatLine('wrong-url', 'x'), url: '/v1/embeddings' },
      chatLine('no-model', 'x', 'no-such-model'),
    ]);
    const created = await t.client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { purpose: 'test' },
    });
    expect(created).toMatchObject({
      object: 'batch',
      endpoint: '/v1/chat/completions',
      input_file_id: file.id,
      completion_window: '24h',
      metadata: { purpose: 'test' },
    });
    expect(created.id).toMatch(/^batch_/);
    const batch = await t.ended(created.id);
    expectOpenAISchema('Batch', batch);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 24, completed: 20, failed: 4 });
    expect(batch.completed_at).toBeGreaterThan(0);
    const output = await t.lines(batch.output_file_id);
    expect(output.map((line) => line.custom_id).sort()).toEqual(
      good.map((line) => line.custom_id).sort(),
    );
    for (const line of output) {
      expect(line.error).toBeNull();
      const response = line.response as { status_code: number; body: { choices: unknown[] } };
      expect(response.status_code).toBe(200);
      expect(response.body.choices).toHaveLength(1);
    }
    const errors = await t.lines(batch.error_file_id);
    expect(errors.map((line) => (line.error as { code: string }).code).sort()).toEqual(
      ['duplicate_custom_id', 'invalid_json_line', 'mismatched_endpoint', 'model_not_found'].sort(),
    );
    const file1 = await t.client.files.retrieve(batch.output_file_id ?? '');
    expect(file1.purpose).toBe('batch_output');
    const records = await t.usage();
    expect(records).toHaveLength(20);
    expect(records.every((record) => record.batch)).toBe(true);
  });

  it('runs embeddings and responses batches', async () => {
    const t = await freshTenant();
    const embeddings = await t.upload(
      ['a', 'b'].map((text) => ({
        custom_id: text,
        method: 'POST',
        url: '/v1/embeddings',
        body: { model: 'embed-test', input: text },
      })),
    );
    const responses = await t.upload(
      ['c', 'd'].map((text) => ({
        custom_id: text,
        method: 'POST',
        url: '/v1/responses',
        body: { model: 'gpt-test', input: `say ${text}` },
      })),
    );
    const [e, r] = await Promise.all([
      t.client.batches.create({
        input_file_id: embeddings.id,
        endpoint: '/v1/embeddings',
        completion_window: '24h',
      }),
      t.client.batches.create({
        input_file_id: responses.id,
        endpoint: '/v1/responses',
        completion_window: '24h',
      }),
    ]);
    const embedded = await t.ended(e.id);
    expect(embedded.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    for (const line of await t.lines(embedded.output_file_id))
      expect((line.response as { body: { object: string } }).body.object).toBe('list');
    const answered = await t.ended(r.id);
    expect(answered.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    for (const line of await t.lines(answered.output_file_id)) {
      const body = (line.response as { body: { object: string; status: string } }).body;
      expect(body).toMatchObject({ object: 'response', status: 'completed' });
    }
    expect(await t.usage()).toHaveLength(4);
  });

  it('refuses bad batches and creates nothing', async () => {
    const t = await freshTenant();
    const other = await freshTenant();
    const file = await t.upload([chatLine('a', 'x')]);
    const foreign = await other.upload([chatLine('a', 'x')]);
    const create = (body: Record<string, unknown>) =>
      apiError(
        t.client.batches.create({
          input_file_id: file.id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          ...body,
        } as OpenAI.Batches.BatchCreateParams),
      );
    const notFound = await create({ input_file_id: foreign.id });
    expect([notFound.status, notFound.code, notFound.param]).toEqual([
      404,
      'file_not_found',
      'input_file_id',
    ]);
    const endpoint = await create({ endpoint: '/v1/completions' });
    expect([endpoint.status, endpoint.param]).toEqual([400, 'endpoint']);
    const window = await create({ completion_window: '48h' });
    expect([window.status, window.param]).toEqual([400, 'completion_window']);
    // A batch's own output file is not input.
    const done = await t.ended(
      (
        await t.client.batches.create({
          input_file_id: file.id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        })
      ).id,
    );
    const purpose = await create({ input_file_id: done.output_file_id });
    expect([purpose.status, purpose.param]).toEqual([400, 'input_file_id']);
    const many = await t.upload(Array.from({ length: 50_001 }, (_, i) => chatLine(`${i}`, 'x')));
    const tooMany = await create({ input_file_id: many.id });
    expect([tooMany.status, tooMany.param]).toEqual([400, 'input_file_id']);
    const list = await t.client.batches.list();
    expect(list.data.map((batch) => batch.id)).toEqual([done.id]);
  });

  it("answers another tenant's batch id with 404 and pages through its own", async () => {
    const t = await freshTenant();
    const other = await freshTenant();
    const file = await t.upload([chatLine('a', 'x')]);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(
        (
          await t.client.batches.create({
            input_file_id: file.id,
            endpoint: '/v1/chat/completions',
            completion_window: '24h',
          })
        ).id,
      );
    for (const call of [
      () => other.client.batches.retrieve(ids[0] ?? ''),
      () => other.client.batches.cancel(ids[0] ?? ''),
    ]) {
      const error = await apiError(call());
      expect([error.status, error.code]).toEqual([404, 'batch_not_found']);
    }
    expect((await other.client.batches.list()).data).toEqual([]);
    const page = await t.client.batches.list({ limit: 2 });
    expect(page.data.map((batch) => batch.id)).toEqual([ids[2], ids[1]]);
    expect(page.has_more).toBe(true);
    const next = await t.client.batches.list({ limit: 2, after: ids[1] });
    expect(next.data.map((batch) => batch.id)).toEqual([ids[0]]);
    expect(next.has_more).toBe(false);
    for (const id of ids) await t.ended(id);
  });

  it('retries a line the upstream throttled', async () => {
    const t = await freshTenant();
    upstream.next((_req, res) =>
      json(
        res,
        429,
        { error: { message: 'slow down', type: 'rate_limit' } },
        { 'retry-after': '1' },
      ),
    );
    const file = await t.upload([chatLine('only', 'retry me')]);
    const batch = await t.ended(
      (
        await t.client.batches.create({
          input_file_id: file.id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        })
      ).id,
    );
    expect(batch.request_counts).toEqual({ total: 1, completed: 1, failed: 0 });
    expect(await t.usage()).toHaveLength(1);
  });

  it('cancels: no new line starts, and the batch ends with what ran', async () => {
    const t = await freshTenant();
    const gate = newGate();
    let held = 0;
    upstream.always(async (_req, res) => {
      held++;
      await gate.opened;
      json(res, 200, chatCompletion('late'));
    });
    const file = await t.upload(Array.from({ length: 40 }, (_, i) => chatLine(`c-${i}`, 'x')));
    const created = await t.client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    // Lines are in flight (held upstream) when the cancel comes.
    await eventually(() => expect(held).toBeGreaterThan(0), 30_000);
    const cancelling = await t.client.batches.cancel(created.id);
    expect(cancelling.status).toBe('cancelling');
    expect(cancelling.cancelling_at).toBeGreaterThan(0);
    gate.open();
    const batch = await t.ended(created.id);
    expect(batch.status).toBe('cancelled');
    const ran = batch.request_counts?.completed ?? 0;
    expect(ran).toBeGreaterThan(0);
    expect(ran).toBeLessThan(40);
    expect(await t.lines(batch.output_file_id)).toHaveLength(ran);
    expect(await t.usage()).toHaveLength(ran);
    const again = await apiError(t.client.batches.cancel(created.id));
    expect([again.status, again.code]).toEqual([409, 'batch_not_cancellable']);
  });

  it('expires: lines left when the window ends go to the error file as batch_expired', async () => {
    const t = await freshTenant();
    const gate = newGate();
    let held = 0;
    upstream.always(async (_req, res) => {
      held++;
      await gate.opened;
      json(res, 200, chatCompletion('in time'));
    });
    const file = await t.upload(Array.from({ length: 12 }, (_, i) => chatLine(`e-${i}`, 'x')));
    const created = await t.client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await eventually(() => expect(held).toBeGreaterThan(0), 30_000);
    // The window ends while lines are in flight: they finish, the rest expire.
    const db = t.db();
    await (await db)
      .updateTable('batches')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', created.id)
      .execute();
    gate.open();
    const batch = await t.ended(created.id);
    expect(batch.status).toBe('expired');
    expect(batch.expired_at).toBeGreaterThan(0);
    const ran = batch.request_counts?.completed ?? 0;
    expect(ran).toBeGreaterThan(0);
    expect(batch.request_counts).toEqual({ total: 12, completed: ran, failed: 12 - ran });
    const errors = await t.lines(batch.error_file_id);
    expect(errors).toHaveLength(12 - ran);
    for (const line of errors) expect((line.error as { code: string }).code).toBe('batch_expired');
    expect(await t.usage()).toHaveLength(ran);
  });
});
