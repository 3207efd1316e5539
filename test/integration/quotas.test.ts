import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type EventLog,
  MemoryEventLog,
  RedisEventLog,
} from '../../src/services/events/event-log.js';
import { tokensToReserve } from '../../src/services/limits/reservation.js';
import { type RunningWorkers, startUsageWorkers } from '../../src/services/usage/usage-workers.js';
import { apiError } from '../helpers/api-error.js';
import { FakeUpstream, json } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { openLedger, STORE_KINDS, TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { openQueue } from '../helpers/usage-queues.js';

const quiet = { warn: () => {}, error: () => {} };
const MAX_TOKENS = 5;
const body = {
  model: 'gpt-test',
  messages: [{ role: 'user' as const, content: 'Hi there' }],
  max_tokens: MAX_TOKENS,
};
/** $0.001 per token, in and out: a request's cost is its tokens in thousandths. */
const config = (upstreamUrl: string) => {
  const base = upstreamConfig(upstreamUrl);
  return {
    ...base,
    models: base.models.map((model) =>
      model.name === 'gpt-test' ? { ...model, pricing: { input: 1000, output: 1000 } } : model,
    ),
  };
};

describe.each(STORE_KINDS)('quotas and budgets on the %s store', (kind) => {
  const upstream = new FakeUpstream();
  let gateway: TestGateway;
  let workers: RunningWorkers;
  let events: EventLog;
  /** A tenant of its own per test: a quota counts all of its period's usage, earlier tests' too. */
  let tenant: { slug: string; id: string; keyId: string; client: OpenAI };
  let tenants = 0;
  const made: string[] = [];
  const stream = `llmb:test:events:${kind}:${Date.now().toString(36)}`;
  /** What the gateway reserves for `body`: the upstream reports exactly that, unless told. */
  let reserved: { promptTokens: number; completionTokens: number };
  let each: number;

  /** The upstream reports `extra` more completion tokens than were reserved. */
  const answer = (extra = 0) =>
    upstream.always((_req, res) =>
      json(res, 200, {
        id: 'chatcmpl-q',
        object: 'chat.completion',
        created: 1,
        model: 'upstream-model',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'ok' },
            finish_reason: 'stop',
            logprobs: null,
          },
        ],
        usage: {
          prompt_tokens: reserved.promptTokens,
          completion_tokens: MAX_TOKENS + extra,
          total_tokens: reserved.promptTokens + MAX_TOKENS + extra,
        },
      }),
    );

  beforeAll(async () => {
    await upstream.start();
    const queue = openQueue(kind);
    events =
      kind === 'redis'
        ? new RedisEventLog({ client: new Redis(TEST_REDIS_URL), stream, ownsConnection: true })
        : new MemoryEventLog();
    gateway = await startGateway(
      config(upstream.url),
      {},
      {
        services: { ledger: openLedger(kind), usageQueue: queue, events },
      },
    );
    workers = startUsageWorkers({
      queue,
      records: gateway.services.usageRecords,
      count: 1,
      log: quiet,
    });
    reserved = await tokensToReserve('chat', body, 1024);
    each = reserved.promptTokens + reserved.completionTokens;
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await workers?.stop();
    await upstream.stop();
    // Counters of `total` quotas never expire by themselves.
    for (const id of made) await dropCounters(kind, id);
    if (kind === 'redis') {
      const redis = new Redis(TEST_REDIS_URL);
      await redis.del(stream);
      redis.disconnect();
    }
  }, 60_000);
  beforeEach(async () => {
    tenants += 1;
    const slug = `quota-${kind}-${tenants}`;
    const { id } = await gateway.services.tenants.create({ slug, name: slug });
    made.push(id);
    const key = await gateway.services.keys.create(slug, { name: 'caller', role: 'owner' });
    tenant = {
      slug,
      id,
      keyId: key.key.id,
      client: gateway.client.withOptions({ apiKey: key.secret }),
    };
  });
  afterEach(() => upstream.reset());

  async function setQuota(input: Record<string, unknown>) {
    const response = await gateway.fetch(`/admin/v1/tenants/${tenant.slug}/quotas`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway.adminKey}` },
      body: JSON.stringify(input),
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return (await response.json()) as { id: string };
  }

  const quotaEvents = async (quotaId: string) =>
    (await events.recent(1000))
      .filter((event) => event.tenantId === tenant.id && event.data.quota_id === quotaId)
      .map((event) => (event.type === 'quota.exhausted' ? 'exhausted' : event.data.threshold));

  /** A EUR rate card for `gpt-test`, in EUR per million tokens. */
  const setPlan = (input: string, output: string) =>
    gateway.services.billing.setPlan(tenant.slug, {
      currency: 'EUR',
      usd_rate: '0.9',
      rates: { 'gpt-test': { input, output } },
    });

  /** Micro-units a request of `body` is charged at these rates, the upstream reporting as reserved. */
  const chargeOfOne = (input: number, output: number) =>
    reserved.promptTokens * input + MAX_TOKENS * output;

  const chargeRows = async () =>
    gateway.services.tenants
      .database(await gateway.services.tenants.get(tenant.slug))
      .selectFrom('usage_records')
      .select([
        'price_plan_id',
        'charge_input_micros',
        'charge_output_micros',
        'charge_other_micros',
      ])
      .orderBy('at')
      .execute();

  const charged = (rows: Awaited<ReturnType<typeof chargeRows>>) =>
    rows.reduce(
      (sum, row) =>
        sum +
        Number(row.charge_input_micros) +
        Number(row.charge_output_micros) +
        Number(row.charge_other_micros),
      0,
    );

  const usageRows = async () =>
    gateway.services.tenants
      .database(await gateway.services.tenants.get(tenant.slug))
      .selectFrom('usage_records')
      .select(['input_tokens', 'output_tokens', 'cost'])
      .execute();

  it('refuses with 429 insufficient_quota before the upstream once a token quota is spent', async () => {
    answer();
    const quota = await setQuota({
      scope: 'tenant',
      metric: 'tokens',
      period: 'day',
      amount: 4 * each,
      thresholds: [50, 100],
    });
    for (let i = 0; i < 4; i++) await tenant.client.chat.completions.create(body);
    const retrying = tenant.client.withOptions({ maxRetries: 2 });
    const refused = await apiError(retrying.chat.completions.create(body));
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect([refused.status, refused.code, refused.type]).toEqual([
      429,
      'insufficient_quota',
      'insufficient_quota',
    ]);
    expect(refused.message).toMatch(/today's token quota of \d+ tokens on this tenant/);
    expect(refused.headers?.get('x-should-retry')).toBe('false');
    await apiError(tenant.client.chat.completions.create(body));
    // The SDK did not retry, and nothing refused reached the upstream.
    expect(upstream.requests).toHaveLength(4);
    const refusals = gateway.logs.filter(
      (log) => log.msg === 'request completed' && log.error === 'insufficient_quota',
    );
    expect(refusals).toHaveLength(2);
    await eventually(async () =>
      expect(await quotaEvents(quota.id)).toEqual(['exhausted', 100, 50]),
    );
  });

  it('admits a burst of first requests of a period, counting each once', async () => {
    answer();
    await setQuota({ scope: 'tenant', metric: 'tokens', period: 'day', amount: 1000 * each });
    // The period's counter is missing until one of them seeds it from the usage records;
    // requests arriving meanwhile share the ledger calls of those retrying with the seed.
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, () => tenant.client.chat.completions.create(body)),
    );
    expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
    await eventually(async () => expect(await usageRows()).toHaveLength(40));
  });

  it('holds concurrent requests against a nearly spent budget to it, each threshold told once', async () => {
    answer();
    const cost = each / 1000;
    // Room for 10 requests and a half.
    const quota = await setQuota({
      scope: 'tenant',
      metric: 'cost',
      period: 'month',
      amount: cost * 10.5,
      thresholds: [50, 80, 100],
    });
    for (let i = 0; i < 7; i++) await tenant.client.chat.completions.create(body);
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, () => tenant.client.chat.completions.create(body)),
    );
    const admitted = results.filter((result) => result.status === 'fulfilled').length;
    const refusals = results.flatMap((result) =>
      result.status === 'rejected' ? [result.reason] : [],
    );
    expect(admitted).toBe(3);
    expect(
      refusals.every(
        (error) => error instanceof OpenAI.RateLimitError && error.code === 'insufficient_quota',
      ),
    ).toBe(true);
    expect(upstream.requests).toHaveLength(10);
    // The records, the truth: 10 requests, within the budget.
    const rows = await eventually(async () => {
      const rows = await usageRows();
      expect(rows.length).toBeGreaterThanOrEqual(10);
      return rows;
    });
    const spent = rows.reduce((sum, row) => sum + Number(row.cost), 0);
    expect(spent).toBeLessThanOrEqual(cost * 10.5);
    expect(spent).toBeCloseTo(cost * 10, 9);
    await eventually(async () =>
      expect((await quotaEvents(quota.id)).sort()).toEqual([50, 80, 'exhausted']),
    );
  });

  it('overruns only by what admitted requests used beyond their reservation', async () => {
    const excess = 7;
    answer(excess);
    const limit = 6 * each;
    await setQuota({
      scope: 'key',
      subject_id: tenant.keyId,
      metric: 'tokens',
      period: 'total',
      amount: limit,
    });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => tenant.client.chat.completions.create(body)),
    );
    const admitted = results.filter((result) => result.status === 'fulfilled').length;
    expect(admitted).toBeGreaterThan(0);
    const rows = await eventually(async () => {
      const rows = await usageRows();
      expect(rows).toHaveLength(admitted);
      return rows;
    });
    const used = rows.reduce(
      (sum, row) => sum + Number(row.input_tokens) + Number(row.output_tokens),
      0,
    );
    expect(used).toBeGreaterThan(limit);
    expect(used).toBeLessThanOrEqual(limit + admitted * excess);
    // Once more than the limit is used, nothing more is admitted.
    await apiError(tenant.client.chat.completions.create({ ...body, max_tokens: 1 }));
  });

  it('holds a tenant to a charge budget, counting what its records are charged', async () => {
    answer();
    await setPlan('1000', '2000');
    const each = chargeOfOne(1000, 2000);
    // Room for exactly 3 requests, in EUR.
    const quota = await setQuota({
      scope: 'tenant',
      metric: 'charge',
      period: 'total',
      amount: (3 * each) / 1e6,
      thresholds: [100],
    });
    for (let i = 0; i < 3; i++) await tenant.client.chat.completions.create(body);
    const refused = await apiError(tenant.client.chat.completions.create(body));
    expect([refused.status, refused.code]).toEqual([429, 'insufficient_quota']);
    expect(refused.message).toMatch(/the total charge budget of [\d.]+ EUR on this tenant/);
    expect(upstream.requests).toHaveLength(3);
    const rows = await eventually(async () => {
      const rows = await chargeRows();
      expect(rows).toHaveLength(3);
      return rows;
    });
    expect(charged(rows)).toBe(3 * each);
    // The counter's use when it reached 100 %: what the records were charged.
    const reached = await eventually(async () => {
      const found = (await events.recent(1000)).find(
        (event) => event.type === 'quota.threshold_reached' && event.data.quota_id === quota.id,
      );
      expect(found).toBeDefined();
      return found;
    });
    expect(reached?.data.used).toBe(charged(rows) / 1e6);
    // And the listing reads the same use back from the records, in EUR.
    const listed = await gateway.fetch(`/admin/v1/tenants/${tenant.slug}/quotas`, {
      headers: { authorization: `Bearer ${gateway.adminKey}` },
    });
    const { data } = (await listed.json()) as { data: { id: string; used: number }[] };
    expect(data.find((item) => item.id === quota.id)?.used).toBe(charged(rows) / 1e6);
  });

  it('prices a charge budget with the plan in effect, a price change included', async () => {
    answer();
    const first = await setPlan('1000', '2000');
    const cheap = chargeOfOne(1000, 2000);
    const dear = chargeOfOne(2000, 4000);
    // Two requests at the first prices, then room for one at twice them (four at the old).
    await setQuota({
      scope: 'tenant',
      metric: 'charge',
      period: 'month',
      amount: (2 * cheap + dear) / 1e6,
    });
    for (let i = 0; i < 2; i++) await tenant.client.chat.completions.create(body);
    const second = await setPlan('2000', '4000');
    await tenant.client.chat.completions.create(body);
    const refused = await apiError(tenant.client.chat.completions.create(body));
    expect(refused.code).toBe('insufficient_quota');
    expect(upstream.requests).toHaveLength(3);
    const rows = await eventually(async () => {
      const rows = await chargeRows();
      expect(rows).toHaveLength(3);
      return rows;
    });
    expect(rows.map((row) => row.price_plan_id)).toEqual([first.id, first.id, second.id]);
    expect(charged(rows)).toBe(2 * cheap + dear);
  });

  it('counts nothing against a charge budget of a tenant without a plan', async () => {
    answer();
    await setQuota({ scope: 'tenant', metric: 'charge', period: 'day', amount: 0.000001 });
    for (let i = 0; i < 3; i++) await tenant.client.chat.completions.create(body);
    expect(upstream.requests).toHaveLength(3);
  });

  it('rebuilds lost counters from the usage records before trusting them again', async () => {
    answer();
    const before = (await usageRows()).length;
    // Room for 5 requests; 4 are made, and the counters are lost.
    await setQuota({
      scope: 'key',
      subject_id: tenant.keyId,
      metric: 'tokens',
      period: 'day',
      amount: 5 * each,
    });
    await setQuota({
      scope: 'tenant',
      metric: 'cost',
      period: 'total',
      amount: (5.5 * each) / 1000,
    });
    for (let i = 0; i < 4; i++) await tenant.client.chat.completions.create(body);
    await eventually(async () => expect(await usageRows()).toHaveLength(before + 4));
    const survivor = await restartCounters(kind, tenant.id, gateway, upstream.url);
    try {
      // Rebuilt at 4 of 5: one more fits, the sixth does not.
      const client = survivor.client.withOptions({ apiKey: tenant.client.apiKey });
      await client.chat.completions.create(body);
      const refused = await apiError(client.chat.completions.create(body));
      expect(refused.code).toBe('insufficient_quota');
      expect(upstream.requests).toHaveLength(5);
    } finally {
      if (survivor !== gateway) await survivor.close();
    }
  });

  it("rebuilds a lost charge budget from the records' stored charges", async () => {
    answer();
    await setPlan('1000', '2000');
    // Room for 5 requests and a half; 4 are made, and the counter is lost.
    await setQuota({
      scope: 'tenant',
      metric: 'charge',
      period: 'total',
      amount: (5.5 * chargeOfOne(1000, 2000)) / 1e6,
    });
    for (let i = 0; i < 4; i++) await tenant.client.chat.completions.create(body);
    await eventually(async () => expect(await chargeRows()).toHaveLength(4));
    const survivor = await restartCounters(kind, tenant.id, gateway, upstream.url);
    try {
      const client = survivor.client.withOptions({ apiKey: tenant.client.apiKey });
      await client.chat.completions.create(body);
      const refused = await apiError(client.chat.completions.create(body));
      expect(refused.code).toBe('insufficient_quota');
      expect(upstream.requests).toHaveLength(5);
    } finally {
      if (survivor !== gateway) await survivor.close();
    }
  });
});

/** Deletes the tenant's quota counters from Redis, as a Redis that lost its data would. */
async function dropCounters(kind: string, tenantId: string): Promise<void> {
  if (kind !== 'redis') return;
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const keys = await redis.keys(`llmb:q:{${tenantId}}:*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

/**
 * The counters gone: Redis's deleted, or for the in-process store a restarted instance (a
 * second gateway with a fresh store on the same databases).
 */
async function restartCounters(
  kind: string,
  tenantId: string,
  gateway: TestGateway,
  upstreamUrl: string,
): Promise<TestGateway> {
  if (kind === 'redis') {
    await dropCounters(kind, tenantId);
    return gateway;
  }
  return startGateway(
    config(upstreamUrl),
    {},
    {
      share: gateway,
      services: { ledger: openLedger('memory') },
    },
  );
}
