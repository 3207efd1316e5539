import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningWorkers, startUsageWorkers } from '../../src/services/usage/usage-workers.js';
import { apiError } from '../helpers/api-error.js';
import type { BackendKind } from '../helpers/databases.js';
import { chatCompletion, FakeUpstream, json, sse, textChunks } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { openLedger, type StoreKind } from '../helpers/limit-stores.js';
import { openQueue } from '../helpers/usage-queues.js';

/**
 * Responses API state on two gateway instances over the same databases: a conversation goes
 * on from either, stays the creating key's and tenant's, and each request is accounted once
 * on the chat path's usage. Runs on PostgreSQL with the Redis stores and on the embedded
 * PGlite with the in-process ones (one instance: PGlite is that process's own database).
 */
const quiet = { warn: () => {}, error: () => {} };
const CASES: [BackendKind, StoreKind][] = [
  ['postgres', 'redis'],
  ['pglite', 'memory'],
];

describe.each(CASES)('Responses API state on %s with the %s stores', (database, store) => {
  const upstream = new FakeUpstream();
  let a: TestGateway;
  let b: TestGateway;
  let workers: RunningWorkers;

  beforeAll(async () => {
    await upstream.start();
    const queue = openQueue(store);
    const config = upstreamConfig(upstream.url);
    a = await startGateway(
      config,
      {},
      { database, services: { ledger: openLedger(store), usageQueue: queue } },
    );
    // The embedded PGlite is one process's own database: a second instance needs PostgreSQL.
    b =
      database === 'postgres'
        ? await startGateway(config, {}, { share: a, services: { ledger: openLedger(store) } })
        : a;
    workers = startUsageWorkers({ queue, records: a.services.usageRecords, count: 1, log: quiet });
  }, 60_000);
  afterAll(async () => {
    if (b !== a) await b?.close();
    await a?.close();
    await workers?.stop();
    await upstream.stop();
  }, 60_000);
  afterEach(() => upstream.reset());

  const usageRows = async () =>
    a.services.tenants
      .database(await a.services.tenants.get('test'))
      .selectFrom('usage_records')
      .selectAll()
      .execute();

  it('continues a conversation over three turns, on either instance', async () => {
    upstream.next((_req, res) => json(res, 200, chatCompletion('Hi, Ann.')));
    upstream.next((_req, res) => sse(res, textChunks(['You are ', 'Ann.'], { usage: true })));
    upstream.next((_req, res) => json(res, 200, chatCompletion('Bye, Ann.')));
    const first = await a.client.responses.create({
      model: 'gpt-test',
      instructions: 'Be kind.',
      input: 'I am Ann.',
    });
    const stream = b.client.responses.stream({
      model: 'gpt-test',
      input: 'Who am I?',
      previous_response_id: first.id,
    });
    const second = await stream.finalResponse();
    expect(second.output_text).toBe('You are Ann.');
    const third = await a.client.responses.create({
      model: 'gpt-test',
      input: 'Bye.',
      previous_response_id: second.id,
    });
    expect(third.output_text).toBe('Bye, Ann.');
    // Instructions are the request's own: not carried over, as OpenAI does.
    expect(upstream.requests[2]?.body?.messages).toEqual([
      { role: 'user', content: 'I am Ann.' },
      { role: 'assistant', content: 'Hi, Ann.' },
      { role: 'user', content: 'Who am I?' },
      { role: 'assistant', content: 'You are Ann.' },
      { role: 'user', content: 'Bye.' },
    ]);
    const items = await b.client.responses.inputItems.list(third.id, { order: 'asc' });
    expect(items.data).toHaveLength(5);
    expect((await b.client.responses.retrieve(third.id)).output_text).toBe('Bye, Ann.');
    await b.client.responses.delete(first.id);
    expect((await apiError(a.client.responses.retrieve(first.id))).status).toBe(404);
  });

  it('records one usage row per request, streamed or not, with the tokens the client saw', async () => {
    upstream.next((_req, res) => json(res, 200, chatCompletion('Whole.')));
    upstream.next((_req, res) => sse(res, textChunks(['a', 'b', 'c'], { usage: true })));
    const whole = await a.client.responses
      .create({ model: 'gpt-test', input: 'Hi' })
      .withResponse();
    const stream = a.client.responses.stream({ model: 'gpt-test', input: 'Hi' });
    const streamed = await stream.finalResponse();
    const rows = await eventually(async () => {
      const found = (await usageRows()).filter((row) =>
        row.request_id === whole.request_id
          ? true
          : row.streamed && Number(row.output_tokens) === 3,
      );
      expect(found).toHaveLength(2);
      return found;
    }, 10_000);
    const wholeRow = rows.find((row) => row.request_id === whole.request_id);
    expect(Number(wholeRow?.input_tokens)).toBe(whole.data.usage?.input_tokens);
    expect(Number(wholeRow?.output_tokens)).toBe(whole.data.usage?.output_tokens);
    const streamRow = rows.find((row) => row.streamed);
    expect(Number(streamRow?.input_tokens)).toBe(streamed.usage?.input_tokens);
    expect(Number(streamRow?.output_tokens)).toBe(streamed.usage?.output_tokens);
  });

  it('refuses bad input with OpenAI errors and records nothing for it', async () => {
    const refused = [
      await apiError(
        a.client.responses.create({ model: 'gpt-test' } as OpenAI.Responses.ResponseCreateParams),
      ),
      await apiError(
        a.client.responses.create({
          model: 'gpt-test',
          input: [{ type: 'item_reference', id: 'msg_1' }],
        }),
      ),
      await apiError(
        a.client.responses.create({
          model: 'gpt-test',
          input: 'Hi',
          previous_response_id: 'resp_nothing',
        }),
      ),
    ];
    expect(refused.map((error) => error.status)).toEqual([400, 400, 404]);
    expect(refused[2]?.code).toBe('response_not_found');
    upstream.next((_req, res) => json(res, 200, chatCompletion('Fine.')));
    const good = await a.client.responses.create({ model: 'gpt-test', input: 'Hi' }).withResponse();
    // The queue is in order: once the good request's row is written, the refused ones' would be.
    const rows = await eventually(async () => {
      const all = await usageRows();
      expect(all.some((row) => row.request_id === good.request_id)).toBe(true);
      return all;
    }, 10_000);
    const ids = new Set(refused.map((error) => error.requestID));
    expect(rows.filter((row) => ids.has(row.request_id))).toEqual([]);
    expect(upstream.requests).toHaveLength(1);
  });

  it("holds responses to the tenant's quotas, as chat: a 429 before the upstream", async () => {
    const slug = `responses-quota-${database}`;
    await a.services.tenants.create({ slug, name: slug });
    const { secret } = await a.services.keys.create(slug, { name: 'caller', role: 'owner' });
    const quota = await a.fetch(`/admin/v1/tenants/${slug}/quotas`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${a.adminKey}` },
      body: JSON.stringify({ scope: 'tenant', metric: 'tokens', period: 'day', amount: 1 }),
    });
    expect(quota.status).toBe(201);
    const client = new OpenAI({ apiKey: secret, baseURL: `${b.url}/v1`, maxRetries: 0 });
    const refused = await apiError(client.responses.create({ model: 'gpt-test', input: 'Hi' }));
    expect(refused.status).toBe(429);
    expect(refused.code).toBe('insufficient_quota');
    expect(upstream.requests).toHaveLength(0);
  });

  it("answers 404 for another tenant's response on both instances", async () => {
    upstream.next((_req, res) => json(res, 200, chatCompletion('Ours.')));
    const ours = await a.client.responses.create({ model: 'gpt-test', input: 'Hi' });
    const slug = `responses-other-${database}`;
    await a.services.tenants.create({ slug, name: slug });
    const { secret } = await a.services.keys.create(slug, { name: 'theirs', role: 'owner' });
    for (const gateway of [a, b]) {
      const theirs = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
      expect((await apiError(theirs.responses.retrieve(ours.id))).status).toBe(404);
      const continued = await apiError(
        theirs.responses.create({ model: 'gpt-test', input: 'Hi', previous_response_id: ours.id }),
      );
      expect(continued.status).toBe(404);
      expect(continued.param).toBe('previous_response_id');
    }
    expect(upstream.requests).toHaveLength(1);
  });
});
