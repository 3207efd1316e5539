import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.js';
import { chat, freshQuestion, useCacheGateway, useUsageWorkers } from '../helpers/cache-gateway.js';
import { chatCompletion, json } from '../helpers/fake-upstream.js';
import { eventually } from '../helpers/gateway.js';
import { STORE_KINDS } from '../helpers/limit-stores.js';

const REPLAY = 'x-llm-backend-idempotent-replay';

describe.each(STORE_KINDS)('Idempotency-Key on the %s store', (kind) => {
  const harness = useCacheGateway(kind);
  const { gateway, upstream } = harness;
  useUsageWorkers(harness);

  const rowsOf = async (requestIds: string[]) => {
    const db = gateway.services.tenants.database(await gateway.services.tenants.get('test'));
    return db
      .selectFrom('usage_records')
      .selectAll()
      .where('request_id', 'in', requestIds)
      .execute();
  };

  // A model that does not cache: the key works without the cache.
  const plain = (content: string) => ({ ...chat(content), model: 'gpt-plain', temperature: 0.5 });

  it('answers the same key and body once, replays it, and accounts it once', async () => {
    const key = `idem-${randomUUID()}`;
    const body = plain(freshQuestion());
    const first = await gateway.client.chat.completions
      .create(body, { headers: { 'idempotency-key': key, 'x-request-id': `${key}-1` } })
      .withResponse();
    expect(first.response.headers.get(REPLAY)).toBeNull();
    const again = await gateway.client.chat.completions
      .create(body, { headers: { 'idempotency-key': key, 'x-request-id': `${key}-2` } })
      .withResponse();
    expect(again.response.headers.get(REPLAY)).toBe('true');
    expect(again.data).toEqual(first.data);
    // The replay also comes as a stream when asked for one.
    const streamed = await gateway.client.chat.completions.create(
      { ...body, stream: true },
      { headers: { 'idempotency-key': key } },
    );
    let content = '';
    for await (const chunk of streamed) content += chunk.choices[0]?.delta.content ?? '';
    expect(content).toBe(first.data.choices[0]?.message.content);
    expect(upstream.requests).toHaveLength(1);
    const rows = await eventually(async () => {
      const rows = await rowsOf([`${key}-1`, `${key}-2`]);
      expect(rows.length).toBeGreaterThanOrEqual(1);
      return rows;
    });
    expect(rows.map((row) => row.request_id)).toEqual([`${key}-1`]);
  });

  it('refuses the same key with another body with a 409, and keeps other tenants apart', async () => {
    const key = `idem-${randomUUID()}`;
    await gateway.client.chat.completions.create(plain(freshQuestion()), {
      headers: { 'idempotency-key': key },
    });
    const refused = await apiError(
      gateway.client.chat.completions.create(plain(freshQuestion()), {
        headers: { 'idempotency-key': key },
      }),
    );
    expect(refused).toBeInstanceOf(OpenAI.ConflictError);
    expect([refused.status, refused.code, refused.type]).toEqual([
      409,
      'idempotency_key_reused',
      'invalid_request_error',
    ]);
    expect(upstream.requests).toHaveLength(1);
  });

  it('says a key is in progress while its first request runs, and frees a failed one', async () => {
    const key = `idem-${randomUUID()}`;
    const body = plain(freshQuestion());
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    upstream.next(async (_req, res) => {
      await held;
      json(res, 200, chatCompletion('late'));
    });
    const first = gateway.client.chat.completions.create(body, {
      headers: { 'idempotency-key': key },
    });
    await eventually(() => expect(upstream.requests).toHaveLength(1));
    const busy = await apiError(
      gateway.client.chat.completions.create(body, { headers: { 'idempotency-key': key } }),
    );
    expect([busy.status, busy.code]).toEqual([409, 'idempotency_key_in_progress']);
    release();
    expect((await first).choices[0]?.message.content).toBe('late');

    const failing = `idem-${randomUUID()}`;
    upstream.next((_req, res) =>
      json(res, 400, { error: { message: 'no', type: 'invalid_request_error' } }),
    );
    await apiError(
      gateway.client.chat.completions.create(body, { headers: { 'idempotency-key': failing } }),
    );
    const retried = await gateway.client.chat.completions
      .create(body, { headers: { 'idempotency-key': failing } })
      .withResponse();
    expect(retried.response.headers.get(REPLAY)).toBeNull();
  });

  it('refuses a key longer than 255 characters', async () => {
    const refused = await apiError(
      gateway.client.chat.completions.create(plain('x'), {
        headers: { 'idempotency-key': 'k'.repeat(256) },
      }),
    );
    expect([refused.status, refused.code]).toEqual([400, 'invalid_request']);
    expect(upstream.requests).toHaveLength(0);
  });
});
