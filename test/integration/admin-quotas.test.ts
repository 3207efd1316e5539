import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodAt } from '../../src/services/limits/quota-period.js';
import type { UsageEvent } from '../../src/services/usage/usage-records.js';
import { newId } from '../../src/utils/ids.js';
import { BACKENDS } from '../helpers/databases.js';
import { useUpstreamGateway } from '../helpers/gateway.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

const { gateway } = useUpstreamGateway();

interface QuotaJson {
  object: string;
  id: string;
  scope: string;
  subject_id: string | null;
  metric: string;
  period: string;
  amount: number;
  thresholds: number[];
  created_at: string;
  updated_at: string;
}

const quotas = (init: RequestInit & { key?: string; path?: string } = {}) => {
  const headers = new Headers(init.headers);
  if (init.body !== undefined) headers.set('content-type', 'application/json');
  if (init.key !== undefined) headers.set('authorization', `Bearer ${init.key}`);
  return gateway.fetch(`/admin/v1/tenants/test/quotas${init.path ?? ''}`, { ...init, headers });
};
const post = (body: unknown, key?: string) =>
  quotas({ method: 'POST', body: JSON.stringify(body), key });

describe('/admin/v1/tenants/{tenant}/quotas', () => {
  it('sets, replaces, lists and lifts quotas, each change audited', async () => {
    const created = await post({
      scope: 'tenant',
      metric: 'cost',
      period: 'month',
      amount: 500,
      thresholds: [100, 50, 80, 50],
    });
    expect(created.status).toBe(201);
    const budget = (await created.json()) as QuotaJson;
    expect(budget).toMatchObject({
      object: 'quota',
      scope: 'tenant',
      subject_id: null,
      metric: 'cost',
      period: 'month',
      amount: 500,
      // Sorted and without repeats.
      thresholds: [50, 80, 100],
    });
    expect(budget.id).toMatch(/^quo_/);
    // The same target, metric and period again replaces it (thresholds left out: none).
    const replaced = await post({ scope: 'tenant', metric: 'cost', period: 'month', amount: 12.5 });
    expect(replaced.status).toBe(200);
    expect(await replaced.json()).toMatchObject({ id: budget.id, amount: 12.5, thresholds: [] });
    // Another metric or period is another quota.
    const daily = (await (
      await post({ scope: 'tenant', metric: 'tokens', period: 'day', amount: 1_000_000 })
    ).json()) as QuotaJson;
    const total = (await (
      await post({ scope: 'tenant', metric: 'cost', period: 'total', amount: 0.0000123 })
    ).json()) as QuotaJson;
    expect(new Set([budget.id, daily.id, total.id]).size).toBe(3);
    expect(daily).toMatchObject({ metric: 'tokens', period: 'day', amount: 1_000_000 });
    expect(total.amount).toBe(0.0000123);

    const listed = (await (await quotas()).json()) as { object: string; data: QuotaJson[] };
    expect(listed.object).toBe('list');
    expect(listed.data.map((item) => item.id).sort()).toEqual(
      [budget.id, daily.id, total.id].sort(),
    );
    expect(listed.data.find((item) => item.id === budget.id)).toMatchObject({
      object: 'quota',
      amount: 12.5,
    });

    for (const id of [budget.id, daily.id, total.id]) {
      const deleted = await quotas({ method: 'DELETE', path: `/${id}` });
      expect([deleted.status, ((await deleted.json()) as QuotaJson).id]).toEqual([200, id]);
    }
    expect(((await (await quotas()).json()) as { data: unknown[] }).data).toEqual([]);
    const audit = (await (
      await gateway.fetch('/admin/v1/tenants/test/audit-logs?action=quota.*')
    ).json()) as {
      data: { action: string; target_type: string; target_id: string; before: unknown }[];
    };
    expect(audit.data.map((entry) => entry.action)).toEqual([
      'quota.delete',
      'quota.delete',
      'quota.delete',
      'quota.set',
      'quota.set',
      'quota.set',
      'quota.set',
    ]);
    expect(audit.data.every((entry) => entry.target_type === 'quota')).toBe(true);
    // Newest first: three deletes, two new quotas, then the replacement, with before and after.
    expect(audit.data[5]).toMatchObject({
      target_id: budget.id,
      before: { amount: 500, thresholds: [50, 80, 100] },
      after: { amount: 12.5, thresholds: [] },
    });
  });

  it('binds users and keys by id, and refuses ids the tenant does not have', async () => {
    const user = await gateway.services.users.create('test', {
      email: 'quotas@test.test',
      name: 'Q',
      role: 'member',
    });
    const { key } = await gateway.services.keys.create('test', { name: 'q', role: 'member' });
    for (const [scope, id] of [
      ['user', user.id],
      ['key', key.id],
    ] as const) {
      const response = await post({
        scope,
        subject_id: id,
        metric: 'tokens',
        period: 'day',
        amount: 5000,
      });
      expect(response.status).toBe(201);
      const quota = (await response.json()) as QuotaJson;
      expect(quota).toMatchObject({ scope, subject_id: id });
      await quotas({ method: 'DELETE', path: `/${quota.id}` });
    }
    const base = { metric: 'tokens', period: 'day', amount: 5000 };
    for (const [body, status, code, param] of [
      [{ ...base, scope: 'user', subject_id: 'usr_nobody' }, 404, 'user_not_found', 'subject_id'],
      [{ ...base, scope: 'key', subject_id: 'key_nobody' }, 404, 'key_not_found', 'subject_id'],
      [{ ...base, scope: 'user' }, 400, 'invalid_request', 'subject_id'],
      [{ ...base, scope: 'key', subject_id: null }, 400, 'invalid_request', 'subject_id'],
      [{ ...base, scope: 'tenant', subject_id: user.id }, 400, 'invalid_request', 'subject_id'],
      [{ ...base, scope: 'tenant', amount: 1.5 }, 400, 'invalid_request', 'amount'],
      // Counted in billionths of a dollar, a larger budget would be past exact numbers.
      [
        { ...base, scope: 'tenant', metric: 'cost', amount: 9_000_001 },
        400,
        'invalid_request',
        'amount',
      ],
    ] as const) {
      const response = await post(body);
      expect([response.status, await response.json()], JSON.stringify(body)).toEqual([
        status,
        { error: expect.objectContaining({ code, param }) },
      ]);
    }
    expect(await gateway.services.quotas.list('test')).toEqual([]);
  });

  it('refuses malformed bodies and unknown quotas, changing nothing', async () => {
    const base = { scope: 'tenant', metric: 'cost', period: 'month', amount: 10 };
    for (const body of [
      { ...base, scope: 'galaxy' },
      { ...base, metric: 'requests' },
      { ...base, period: 'week' },
      { ...base, amount: 0 },
      { ...base, amount: -1 },
      { ...base, amount: '10' },
      { ...base, amount: 1e10 },
      // Charges are counted to the micro-unit, as billing counts them.
      { ...base, metric: 'charge', amount: -5 },
      { ...base, metric: 'charge', amount: 0 },
      { ...base, metric: 'charge', amount: 1.0000001 },
      { ...base, metric: 'charge', amount: '25.00' },
      { scope: 'tenant', metric: 'cost', period: 'month' },
      { ...base, thresholds: [0] },
      { ...base, thresholds: [101] },
      { ...base, thresholds: [50.5] },
      { ...base, thresholds: '50' },
      { ...base, thresholds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] },
      { ...base, colour: 'red' },
    ]) {
      const response = await post(body);
      expect(
        [response.status, ((await response.json()) as { error: { code: string } }).error.code],
        JSON.stringify(body),
      ).toEqual([400, 'invalid_request']);
    }
    const bad = await quotas({ method: 'POST', body: '{"scope":' });
    expect(bad.status).toBe(400);
    const missing = await quotas({ method: 'DELETE', path: '/quo_nobody' });
    expect([missing.status, await missing.json()]).toEqual([
      404,
      { error: expect.objectContaining({ code: 'quota_not_found', param: 'quota' }) },
    ]);
    expect(await gateway.services.quotas.list('test')).toEqual([]);
  });

  it('checks the same rules when called without HTTP', async () => {
    const { quotas: service } = gateway.services;
    for (const [input, param] of [
      [{ scope: 'tenant', metric: 'tokens', period: 'day', amount: 1.5 }, 'amount'],
      [{ scope: 'tenant', metric: 'cost', period: 'day', amount: 0 }, 'amount'],
      [{ scope: 'tenant', metric: 'cost', period: 'day', amount: Number.NaN }, 'amount'],
      [
        { scope: 'tenant', metric: 'cost', period: 'day', amount: 1, thresholds: [0] },
        'thresholds',
      ],
      [
        { scope: 'tenant', metric: 'cost', period: 'day', amount: 1, thresholds: [101] },
        'thresholds',
      ],
      [{ scope: 'tenant', metric: 'charge', period: 'total', amount: 0.0000001 }, 'amount'],
      [{ scope: 'tenant', metric: 'charge', period: 'total', amount: -1 }, 'amount'],
      [{ scope: 'tenant', metric: 'bytes', period: 'day', amount: 1 }, 'metric'],
      [{ scope: 'tenant', metric: 'cost', period: 'week', amount: 1 }, 'period'],
    ] as const) {
      await expect(
        service.set('test', input as Parameters<typeof service.set>[1]),
        JSON.stringify(input),
      ).rejects.toMatchObject({ code: 'invalid_request', param });
    }
    expect(await service.list('test')).toEqual([]);
  });

  it("lists each quota's use in its current period, from the usage records", async () => {
    const { users, keys, tenants, usageRecords, quotas: service } = gateway.services;
    const user = await users.create('test', { email: 'used@test.test', name: 'U', role: 'member' });
    const own = (await keys.create('test', { name: 'u', role: 'member', userId: user.id })).key;
    const loose = (await keys.create('test', { name: 'l', role: 'member' })).key;
    const tenantId = (await tenants.get('test')).id;
    const today = periodAt('day', new Date()).start as Date;
    const month = periodAt('month', new Date()).start as Date;
    const usage = (
      at: Date,
      keyId: string,
      userId: string | null,
      tokens: number[],
      cost: number,
    ) => {
      const [promptTokens = 0, completionTokens = 0] = tokens;
      const event: UsageEvent = {
        id: newId('evt'),
        at,
        requestId: newId('req'),
        tenantId,
        userId,
        keyId,
        model: 'gpt-test',
        provider: 'upstream',
        usage: {
          promptTokens,
          completionTokens,
          cachedTokens: 0,
          totalTokens: promptTokens + completionTokens,
          estimated: false,
        },
        cost,
        latencyMs: 5,
        timeToFirstTokenMs: null,
        status: 200,
        streamed: false,
        clientDisconnected: false,
        cacheHit: false,
        savedCost: 0,
      };
      return event;
    };
    await usageRecords.write(tenantId, [
      usage(today, own.id, user.id, [100, 50], 0.1),
      usage(new Date(today.getTime() + 1), loose.id, null, [10, 5], 0.2),
      // Yesterday: in this month's period unless today is the 1st.
      usage(new Date(today.getTime() - 1), own.id, user.id, [1000, 0], 1.5),
      usage(new Date('2000-01-15T00:00:00Z'), own.id, user.id, [7, 3], 0.25),
    ]);
    const earlierThisMonth = today.getTime() > month.getTime() ? 1.5 : 0;
    const set = async (input: Parameters<typeof service.set>[1]) =>
      (await service.set('test', input)).quota.id;
    const expected = new Map([
      [await set({ scope: 'tenant', metric: 'tokens', period: 'day', amount: 1e6 }), [165, today]],
      [
        await set({ scope: 'tenant', metric: 'cost', period: 'month', amount: 100 }),
        [0.3 + earlierThisMonth, month],
      ],
      [
        await set({
          scope: 'user',
          subjectId: user.id,
          metric: 'tokens',
          period: 'total',
          amount: 1e6,
        }),
        [1160, null],
      ],
      [
        await set({
          scope: 'user',
          subjectId: user.id,
          metric: 'cost',
          period: 'total',
          amount: 100,
        }),
        [1.85, null],
      ],
      [
        await set({ scope: 'key', subjectId: loose.id, metric: 'cost', period: 'day', amount: 1 }),
        [0.2, today],
      ],
    ]);

    const listed = (await (await quotas()).json()) as {
      data: (QuotaJson & { used: number; period_start: string | null })[];
    };
    expect(listed.data).toHaveLength(expected.size);
    for (const quota of listed.data) {
      const [used, start] = expected.get(quota.id) ?? [];
      expect([quota.used, quota.period_start], `${quota.metric} ${quota.period}`).toEqual([
        used,
        start instanceof Date ? start.toISOString() : null,
      ]);
    }
    for (const id of expected.keys()) await service.delete('test', id);
  });

  it('lets viewers read and only managers write', async () => {
    const viewer = (await gateway.services.keys.create('test', { name: 'v', role: 'viewer' }))
      .secret;
    const member = (await gateway.services.keys.create('test', { name: 'm', role: 'member' }))
      .secret;
    const body = { scope: 'tenant', metric: 'tokens', period: 'month', amount: 1 };
    expect((await quotas({ key: viewer })).status).toBe(200);
    expect((await post(body, viewer)).status).toBe(403);
    expect((await quotas({ key: member })).status).toBe(403);
    const refused = await post(body, member);
    expect([
      refused.status,
      ((await refused.json()) as { error: { code: string } }).error.code,
    ]).toEqual([403, 'permission_denied']);
    const { quota } = await gateway.services.quotas.set('test', {
      scope: 'tenant',
      metric: 'tokens',
      period: 'month',
      amount: 1,
    });
    const deleted = await quotas({ method: 'DELETE', path: `/${quota.id}`, key: member });
    expect(deleted.status).toBe(403);
    expect((await gateway.services.quotas.list('test')).map((item) => item.id)).toEqual([quota.id]);
    await gateway.services.quotas.delete('test', quota.id);
  });
});

/** numeric and smallint[] read back alike from the PostgreSQL server and embedded PGlite. */
describe.each(BACKENDS)('quotas stored on %s', (kind) => {
  let services: TestServices;

  beforeAll(async () => {
    services = await servicesOn(kind);
    await services.tenants.create({ slug: 'acme', name: 'Acme' });
  }, 60_000);
  afterAll(() => services?.close(), 60_000);

  it('keeps amounts exact and thresholds sorted, and replaces on the same target', async () => {
    const { quota, created } = await services.quotas.set('acme', {
      scope: 'tenant',
      metric: 'cost',
      period: 'month',
      amount: 1234.0000000001,
      thresholds: [90, 10, 90],
    });
    expect(created).toBe(true);
    expect(quota).toMatchObject({ amount: 1234.0000000001, thresholds: [10, 90] });
    const again = await services.quotas.set('acme', {
      scope: 'tenant',
      metric: 'cost',
      period: 'month',
      // The largest budget: its counter in billionths of a dollar is still exact.
      amount: 9_000_000,
    });
    expect([again.created, again.quota.id, again.quota.thresholds]).toEqual([false, quota.id, []]);
    const [listed] = await services.quotas.list('acme');
    expect(listed).toEqual({ ...again.quota });
    expect(typeof listed?.amount).toBe('number');
    const charge = await services.quotas.set('acme', {
      scope: 'tenant',
      metric: 'charge',
      period: 'total',
      amount: 999_999_999.999999,
    });
    expect(charge.quota.amount).toBe(999_999_999.999999);
    await services.quotas.delete('acme', charge.quota.id);
    expect(await services.quotas.delete('acme', quota.id)).toMatchObject({ id: quota.id });
    await expect(services.quotas.delete('acme', quota.id)).rejects.toMatchObject({
      code: 'quota_not_found',
    });
  });
});
