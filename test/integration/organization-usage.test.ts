import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { useUpstreamGateway } from '../helpers/gateway.js';
import { expectOpenAISchema } from '../helpers/openai-schema.js';
import { usageEvent } from '../helpers/usage-queues.js';

const now = new Date('2026-10-01T00:00:00Z');
const { gateway } = useUpstreamGateway({ services: { clock: () => now } });

const DAY = 86_400;
const START = Date.UTC(2026, 10, 1) / 1000;

interface Bucket {
  start_time: number;
  end_time: number;
  results: Record<string, unknown>[];
}
interface Page {
  object: string;
  data: Bucket[];
  has_more: boolean;
  next_page: string | null;
}

const clientFor = (apiKey: string) =>
  new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });

describe('/v1/organization/usage/* and /v1/organization/costs', () => {
  let billing: OpenAI;
  let tenantId: string;

  beforeAll(async () => {
    const { services } = gateway;
    const tenant = await services.tenants.create({ slug: 'org', name: 'Org' });
    tenantId = tenant.id;
    await services.billing.setPlan('org', {
      currency: 'EUR',
      usd_rate: '0.9',
      effective_at: '2026-11-01T00:00:00Z',
      rates: { 'gpt-test': { input: '1', cached_input: '0.5', output: '4' } },
    });
    const at = (day: number, hour: number) => new Date((START + day * DAY + hour * 3600) * 1000);
    const tokens = (prompt: number, completion: number, cached = 0) => ({
      promptTokens: prompt,
      completionTokens: completion,
      cachedTokens: cached,
      totalTokens: prompt + completion,
      estimated: false,
    });
    await services.usageRecords.write(tenant.id, [
      usageEvent(tenant.id, {
        at: at(0, 1),
        model: 'gpt-test',
        userId: 'usr_a',
        keyId: 'key_a',
        usage: tokens(1000, 100, 200),
      }),
      usageEvent(tenant.id, {
        at: at(0, 5),
        model: 'gpt-test',
        userId: 'usr_b',
        keyId: 'key_b',
        usage: tokens(3000, 500),
      }),
      usageEvent(tenant.id, {
        at: at(0, 6),
        model: 'embed-test',
        userId: 'usr_a',
        keyId: 'key_a',
        usage: tokens(700, 0),
      }),
      usageEvent(tenant.id, {
        at: at(2, 10),
        model: 'gpt-test',
        userId: 'usr_a',
        keyId: 'key_a',
        usage: tokens(10, 10),
      }),
    ]);
    // Another tenant's usage is never in this tenant's answers.
    const other = await services.tenants.create({ slug: 'org-other', name: 'Other' });
    await services.usageRecords.write(other.id, [
      usageEvent(other.id, { at: at(0, 2), model: 'gpt-test', usage: tokens(99_999, 1) }),
    ]);
    billing = clientFor((await services.keys.create('org', { name: 'b', role: 'billing' })).secret);
  });

  it('answers completions usage in OpenAI shape, grouped, filtered and paged', async () => {
    const query = {
      start_time: START,
      end_time: START + 3 * DAY,
      limit: 2,
      group_by: ['model', 'user_id'],
    };
    const first = (await billing.get('/organization/usage/completions', { query })) as Page;
    expectOpenAISchema('UsageResponse', first);
    expect(first.has_more).toBe(true);
    expect(first.data.map((bucket) => [bucket.start_time, bucket.end_time])).toEqual([
      [START, START + DAY],
      [START + DAY, START + 2 * DAY],
    ]);
    expect(first.data[0]?.results).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          object: 'organization.usage.completions.result',
          model: 'gpt-test',
          user_id: 'usr_a',
          api_key_id: null,
          input_tokens: 1000,
          input_cached_tokens: 200,
          input_uncached_tokens: 800,
          output_tokens: 100,
          num_model_requests: 1,
        }),
        expect.objectContaining({ user_id: 'usr_b', input_tokens: 3000, output_tokens: 500 }),
      ]),
    );
    expect(first.data[0]?.results).toHaveLength(2);
    expect(first.data[1]?.results).toEqual([]);
    const second = (await billing.get('/organization/usage/completions', {
      query: { ...query, page: first.next_page },
    })) as Page;
    expectOpenAISchema('UsageResponse', second);
    expect([second.has_more, second.next_page, second.data.length]).toEqual([false, null, 1]);
    expect(second.data[0]?.results).toEqual([
      expect.objectContaining({ model: 'gpt-test', user_id: 'usr_a', input_tokens: 10 }),
    ]);
    const filtered = (await billing.get('/organization/usage/completions', {
      query: {
        start_time: START,
        end_time: START + DAY,
        api_key_ids: ['key_b'],
        group_by: ['project_id'],
      },
    })) as Page;
    expect(filtered.data[0]?.results).toEqual([
      expect.objectContaining({ project_id: tenantId, input_tokens: 3000, num_model_requests: 1 }),
    ]);
  });

  it('answers embeddings usage apart, hourly', async () => {
    const page = (await billing.get('/organization/usage/embeddings', {
      query: {
        start_time: START,
        end_time: START + DAY,
        bucket_width: '1h',
        limit: 24,
        group_by: ['model'],
      },
    })) as Page;
    expectOpenAISchema('UsageResponse', page);
    expect(page.data).toHaveLength(24);
    const used = page.data.filter((bucket) => bucket.results.length > 0);
    expect(used.map((bucket) => [bucket.start_time, bucket.results])).toEqual([
      [
        START + 6 * 3600,
        [
          {
            object: 'organization.usage.embeddings.result',
            input_tokens: 700,
            num_model_requests: 1,
            model: 'embed-test',
            project_id: null,
            user_id: null,
            api_key_id: null,
          },
        ],
      ],
    ]);
  });

  it('answers costs as what the tenant is charged, by line item', async () => {
    const page = (await billing.get('/organization/costs', {
      query: { start_time: START, end_time: START + DAY, group_by: ['line_item'] },
    })) as Page;
    expectOpenAISchema('UsageResponse', page);
    // 800 + 3000 input at 1, 200 cached at 0.5, 600 output at 4 per million (EUR).
    expect(page.data[0]?.results).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          object: 'organization.costs.result',
          line_item: 'gpt-test, input',
          quantity: 3800,
          quantity_unit: 'tokens',
          amount: { value: 0.0038, currency: 'eur' },
        }),
        expect.objectContaining({
          line_item: 'gpt-test, cached input',
          quantity: 200,
          amount: { value: 0.0001, currency: 'eur' },
        }),
        expect.objectContaining({
          line_item: 'gpt-test, output',
          quantity: 600,
          amount: { value: 0.0024, currency: 'eur' },
        }),
      ]),
    );
  });

  it('answers only keys with billing:read, and refuses bad queries', async () => {
    const member = clientFor(
      (await gateway.services.keys.create('org', { name: 'm', role: 'member' })).secret,
    );
    await expect(
      member.get('/organization/costs', { query: { start_time: START } }),
    ).rejects.toMatchObject({ status: 403, code: 'permission_denied' });
    for (const query of [
      {},
      { start_time: START, bucket_width: '1w' },
      { start_time: START, limit: 0 },
      { start_time: START, end_time: START },
      { start_time: START, group_by: ['line_item'] },
      { start_time: START, page: 'bm9wZQ' },
    ] as const)
      await expect(
        billing.get('/organization/usage/completions', { query }),
        JSON.stringify(query),
      ).rejects.toMatchObject({ status: 400, code: 'invalid_request' });
    await expect(
      billing.get('/organization/costs', { query: { start_time: START, bucket_width: '1h' } }),
    ).rejects.toMatchObject({ status: 400, param: 'bucket_width' });
  });
});
