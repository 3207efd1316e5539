import Anthropic, { type APIError } from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RunningWorkers, startUsageWorkers } from '../../src/services/usage/usage-workers.js';
import {
  chatCompletion,
  FakeUpstream,
  json,
  newGate,
  sse,
  textChunks,
} from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { openLedger, STORE_KINDS } from '../helpers/limit-stores.js';
import { openQueue } from '../helpers/usage-queues.js';

/**
 * The Messages API on the chat path's tenancy, limits, quotas and accounting: one usage row
 * per request with the tokens the client was told, refusals as Anthropic's errors, and bad
 * input refused before anything is counted. On both the in-process and the Redis stores.
 */
const quiet = { warn: () => {}, error: () => {} };

/** The SDK's error for a call that must fail. */
async function failure(call: Promise<unknown>): Promise<APIError> {
  const outcome = await call.then(
    () => new Error('the call succeeded'),
    (error: unknown) => error,
  );
  if (!(outcome instanceof Anthropic.APIError)) throw outcome;
  return outcome;
}

describe.each(STORE_KINDS)('Messages API accounting on the %s store', (kind) => {
  const upstream = new FakeUpstream();
  let gateway: TestGateway;
  let workers: RunningWorkers;
  let tenant: { slug: string; key: string; client: Anthropic };
  let tenants = 0;

  beforeAll(async () => {
    await upstream.start();
    const queue = openQueue(kind);
    gateway = await startGateway(
      upstreamConfig(upstream.url),
      {},
      { services: { ledger: openLedger(kind), usageQueue: queue } },
    );
    workers = startUsageWorkers({
      queue,
      records: gateway.services.usageRecords,
      count: 1,
      log: quiet,
    });
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await workers?.stop();
    await upstream.stop();
  }, 60_000);
  // A tenant of its own per test: its rows, limits and quotas are that test's alone.
  beforeEach(async () => {
    tenants += 1;
    const slug = `messages-${kind}-${tenants}`;
    await gateway.services.tenants.create({ slug, name: slug });
    const { secret } = await gateway.services.keys.create(slug, { name: 'caller', role: 'owner' });
    tenant = {
      slug,
      key: secret,
      client: new Anthropic({ baseURL: gateway.url, apiKey: secret, maxRetries: 0 }),
    };
  });
  afterEach(() => upstream.reset());

  const usageRows = async () =>
    gateway.services.tenants
      .database(await gateway.services.tenants.get(tenant.slug))
      .selectFrom('usage_records')
      .selectAll()
      .execute();

  const rowsOnce = (count: number) =>
    eventually(async () => {
      const rows = await usageRows();
      expect(rows.length).toBeGreaterThanOrEqual(count);
      return rows;
    }, 10_000);

  const admin = (path: string, body: unknown) =>
    gateway.fetch(`/admin/v1/tenants/${tenant.slug}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway.adminKey}` },
      body: JSON.stringify(body),
    });

  const params = { model: 'gpt-test', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] };

  it('records one usage row per request, streamed or not, with the tokens the client saw', async () => {
    upstream.next((_req, res) => json(res, 200, chatCompletion('Hello!')));
    upstream.next((_req, res) => sse(res, textChunks(['a', 'b', 'c'], { usage: true })));
    const whole = await tenant.client.messages
      .create({ ...params, messages: [{ role: 'user', content: 'Hi' }] })
      .withResponse();
    const stream = tenant.client.messages.stream({
      ...params,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const streamed = await stream.finalMessage();
    const rows = await rowsOnce(2);
    expect(rows).toHaveLength(2);
    const byRequest = new Map(rows.map((row) => [row.request_id, row]));
    const wholeRow = byRequest.get(String(whole.request_id));
    // Anthropic's input_tokens leave out the cached ones the row counts in.
    expect(wholeRow).toMatchObject({ model: 'gpt-test', streamed: false, status: 200 });
    expect(Number(wholeRow?.input_tokens)).toBe(
      whole.data.usage.input_tokens + (whole.data.usage.cache_read_input_tokens ?? 0),
    );
    expect(Number(wholeRow?.output_tokens)).toBe(whole.data.usage.output_tokens);
    const streamRow = rows.find((row) => row.streamed);
    expect(Number(streamRow?.input_tokens)).toBe(streamed.usage.input_tokens);
    expect(Number(streamRow?.output_tokens)).toBe(streamed.usage.output_tokens);
  });

  it('accounts a stream the client left midway, once, with what was delivered', async () => {
    const gate = newGate();
    const chunks = textChunks(['one ', 'two ', 'three ', 'four'], { usage: true });
    upstream.next(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const item of chunks.slice(0, 3)) res.write(`data: ${JSON.stringify(item)}\n\n`);
      // The rest only once the client has gone: it never reads it.
      await gate.opened;
      res.end();
    });
    const stream = tenant.client.messages.stream({
      ...params,
      messages: [{ role: 'user', content: 'Count' }],
    });
    let deltas = 0;
    for await (const event of stream)
      if (event.type === 'content_block_delta' && ++deltas === 2) break;
    const [row, ...others] = await rowsOnce(1);
    gate.open();
    expect(others).toEqual([]);
    expect(row).toMatchObject({ streamed: true, client_disconnected: true });
    // Estimated from the two pieces that went out.
    expect(Number(row?.output_tokens)).toBeGreaterThan(0);
    expect(Number(row?.output_tokens)).toBeLessThan(4);
  });

  it('answers a quota the request would overrun with a 429 rate_limit_error, before the upstream', async () => {
    upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));
    const quota = await admin('/quotas', {
      scope: 'tenant',
      metric: 'tokens',
      period: 'day',
      amount: 1,
    });
    expect(quota.status).toBe(201);
    const refused = await failure(
      tenant.client.messages.create({ ...params, messages: [{ role: 'user', content: 'Hi' }] }),
    );
    expect(refused).toBeInstanceOf(Anthropic.RateLimitError);
    expect(refused.status).toBe(429);
    expect(refused.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(refused.message).toContain('token quota');
    expect(upstream.requests).toHaveLength(0);
  });

  it('carries the rate limit headers chat has, and refuses past the limit as rate_limit_error', async () => {
    upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));
    expect((await admin('/limits', { scope: 'tenant', requests_per_minute: 1 })).status).toBe(201);
    const first = await tenant.client.messages
      .create({ ...params, messages: [{ role: 'user', content: 'Hi' }] })
      .withResponse();
    expect(first.response.headers.get('x-ratelimit-limit-requests')).toBe('1');
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    const refused = await failure(
      tenant.client.messages.create({ ...params, messages: [{ role: 'user', content: 'Hi' }] }),
    );
    expect(refused).toBeInstanceOf(Anthropic.RateLimitError);
    expect(refused.headers?.get('retry-after')).toMatch(/^\d+$/);
    expect(refused.error).toMatchObject({ error: { type: 'rate_limit_error' } });
    expect(upstream.requests).toHaveLength(1);
  });

  it('refuses bad input with Anthropic-shaped 400s and 404s, recording nothing', async () => {
    upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));
    const post = (body: unknown) =>
      fetch(`${gateway.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': tenant.key },
        body: JSON.stringify(body),
      });
    const cases: [unknown, number, string][] = [
      [{ model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }] }, 400, 'max_tokens'],
      [{ ...params, messages: [{ role: 'system', content: 'Hi' }] }, 400, 'role'],
      [{ ...params, messages: [] }, 400, 'messages'],
      [{ ...params, max_tokens: 0 }, 400, 'max_tokens'],
      [{ ...params, n: 2 }, 400, 'n'],
      [
        { ...params, messages: [{ role: 'user', content: [{ type: 'video', url: 'x' }] }] },
        400,
        'video',
      ],
      [{ ...params, tools: [{ name: 'search', type: 'web_search_20250305' }] }, 400, 'web_search'],
      [{ ...params, model: 'no-such-model' }, 404, 'model'],
    ];
    for (const [body, status, mentions] of cases) {
      const response = await post(body);
      const error = (await response.json()) as {
        type: string;
        error: { type: string; message: string };
      };
      expect([response.status, error.type], JSON.stringify(body)).toEqual([status, 'error']);
      expect(error.error.type).toBe(status === 404 ? 'not_found_error' : 'invalid_request_error');
      expect(error.error.message).toContain(mentions);
    }
    expect(upstream.requests).toHaveLength(0);
    // A good request after them: once its row is there, the bad ones would be too.
    await tenant.client.messages.create({ ...params, messages: [{ role: 'user', content: 'Hi' }] });
    expect(await rowsOnce(1)).toHaveLength(1);
  });
});
