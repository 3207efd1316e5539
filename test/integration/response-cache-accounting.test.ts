import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { tokensToReserve } from '../../src/services/limits/reservation.js';
import { apiError } from '../helpers/api-error.js';
import {
  chat,
  freshQuestion,
  PRICING,
  useCacheGateway,
  useUsageWorkers,
} from '../helpers/cache-gateway.js';
import { eventually } from '../helpers/gateway.js';
import { STORE_KINDS } from '../helpers/limit-stores.js';

describe.each(STORE_KINDS)('cache hits in accounting and limits on the %s store', (kind) => {
  const harness = useCacheGateway(kind);
  const { gateway, upstream } = harness;
  useUsageWorkers(harness);
  afterEach(async () => {
    for (const rule of await gateway.services.limitRules.list('test'))
      await gateway.services.limitRules.delete('test', rule.id);
    for (const quota of await gateway.services.quotas.list('test'))
      await gateway.services.quotas.delete('test', quota.id);
  });

  const rowsOf = async (requestIds: string[]) => {
    const db = gateway.services.tenants.database(await gateway.services.tenants.get('test'));
    return eventually(async () => {
      const rows = await db
        .selectFrom('usage_records')
        .selectAll()
        .where('request_id', 'in', requestIds)
        .orderBy('at')
        .execute();
      expect(rows).toHaveLength(requestIds.length);
      return rows;
    });
  };

  /** The metric sample of `series` (name and labels as exposed), 0 before its first count. */
  const sample = async (series: string) => {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return Number(line?.slice(series.length + 1) ?? 0);
  };
  const COST = 'llm_backend_cost_usd_total{tenant="test",model="gpt-test",provider="upstream"}';
  const SAVED = 'llm_backend_cache_saved_usd_total{tenant="test",model="gpt-test"}';
  const HITS = 'llm_backend_cache_requests_total{tenant="test",cache="exact",outcome="hit"}';

  it('records a hit as a cache hit, with what it saved, and the report shows savings', async () => {
    const before = {
      cost: await sample(COST),
      saved: await sample(SAVED),
      hits: await sample(HITS),
    };
    const from = new Date(Date.now() - 1000).toISOString();
    const body = chat(freshQuestion());
    const ids = [`acct-${randomUUID()}`, `acct-${randomUUID()}`];
    for (const id of ids)
      await gateway.client.chat.completions.create(body, { headers: { 'x-request-id': id } });
    const [miss, hit] = await rowsOf(ids);
    // The fake upstream's answer: 9 prompt tokens (2 of them cached), 4 completion tokens.
    const upstreamCost = (7 * PRICING.input + 2 * PRICING.cached_input + 4 * PRICING.output) / 1e6;
    expect(miss).toMatchObject({ cache_hit: false, input_tokens: '9', output_tokens: '4' });
    expect(Number(miss?.cost)).toBeCloseTo(upstreamCost, 10);
    expect(hit).toMatchObject({ cache_hit: true, input_tokens: '9', output_tokens: '4' });
    expect(Number(hit?.cost)).toBe(0);
    expect(Number(hit?.saved_cost)).toBeCloseTo(upstreamCost, 10);
    const response = await gateway.fetch(
      `/admin/v1/tenants/test/usage?from=${encodeURIComponent(from)}&group_by=model`,
    );
    const report = (await response.json()) as { totals: Record<string, number> };
    expect(report.totals).toMatchObject({ cache_hits: 1, saved_tokens: 13 });
    expect(report.totals.saved_cost).toBeCloseTo(upstreamCost, 10);
    expect(report.totals.requests).toBeGreaterThanOrEqual(2);
    // The metrics tell the same: the miss's cost spent, the hit's saved.
    await eventually(async () => {
      expect((await sample(COST)) - before.cost).toBeCloseTo(upstreamCost, 10);
      expect((await sample(SAVED)) - before.saved).toBeCloseTo(upstreamCost, 10);
      expect((await sample(HITS)) - before.hits).toBe(1);
    });
  });

  it('does not hold hits to token quotas', async () => {
    const body = { ...chat(freshQuestion()), max_tokens: 5 };
    // Counted exactly: a reservation's byte bound that does not fit is counted again so.
    const reserved = await tokensToReserve('chat', body, 1024, true);
    const each = reserved.promptTokens + reserved.completionTokens;
    // A key of its own, so no earlier usage counts: room for one fresh answer (13 tokens).
    const { key, secret } = await gateway.services.keys.create('test', {
      name: 'q',
      role: 'member',
    });
    const client = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    await gateway.services.quotas.set('test', {
      scope: 'key',
      subjectId: key.id,
      metric: 'tokens',
      period: 'day',
      amount: each + 5,
    });
    await client.chat.completions.create(body);
    // A fresh answer's usage is settled after its response; the next admission must see it.
    await eventually(async () => {
      const refused = await apiError(client.chat.completions.create({ ...body, seed: 1 }));
      expect(refused.code).toBe('insufficient_quota');
    });
    for (let i = 0; i < 3; i++) {
      const { response } = await client.chat.completions.create(body).withResponse();
      expect(response.headers.get('x-llm-backend-cache')).toBe('hit');
    }
    expect(upstream.requests).toHaveLength(1);
  });

  it('counts hits against requests per minute', async () => {
    const body = chat(freshQuestion());
    await gateway.services.limitRules.set('test', { scope: 'tenant', requestsPerMinute: 3 });
    await gateway.client.chat.completions.create(body);
    for (let i = 0; i < 2; i++) {
      const { response } = await gateway.client.chat.completions.create(body).withResponse();
      expect(response.headers.get('x-llm-backend-cache')).toBe('hit');
      expect(response.headers.get('x-ratelimit-remaining-requests')).toBe(String(1 - i));
    }
    const limited = await apiError(gateway.client.chat.completions.create(body));
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect([limited.code, limited.type]).toEqual(['rate_limit_exceeded', 'requests']);
    expect(upstream.requests).toHaveLength(1);
  });
});
