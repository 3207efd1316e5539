import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UsageEvent } from '../../src/services/usage/usage-records.js';
import {
  parseGroupBy,
  parseInstant,
  UsageReport,
  type UsageReportQuery,
} from '../../src/services/usage/usage-report.js';
import { newId } from '../../src/utils/ids.js';
import { BACKENDS } from '../helpers/databases.js';
import { useUpstreamGateway } from '../helpers/gateway.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

interface Spec {
  at: string;
  model: string;
  keyId: string;
  userId: string | null;
  tokens: [input: number, output: number, cached: number];
  cost: number;
  status?: number;
  streamed?: boolean;
  cacheHit?: boolean;
  savedCost?: number;
}

function event(tenantId: string, spec: Spec): UsageEvent {
  const [promptTokens, completionTokens, cachedTokens] = spec.tokens;
  return {
    id: newId('evt'),
    at: new Date(spec.at),
    requestId: newId('req'),
    tenantId,
    userId: spec.userId,
    keyId: spec.keyId,
    model: spec.model,
    provider: 'upstream',
    usage: {
      promptTokens,
      completionTokens,
      cachedTokens,
      totalTokens: promptTokens + completionTokens,
      estimated: false,
    },
    cost: spec.cost,
    latencyMs: 10,
    timeToFirstTokenMs: spec.streamed ? 5 : null,
    status: spec.status ?? 200,
    streamed: spec.streamed ?? false,
    clientDisconnected: spec.status === 499,
    cacheHit: spec.cacheHit ?? false,
    savedCost: spec.savedCost ?? 0,
  };
}

const A = { keyId: 'key_a', userId: 'usr_a' };
const B = { keyId: 'key_b', userId: 'usr_b' };
const N = { keyId: 'key_n', userId: null };

/**
 * Three UTC days across a month's end (two partitions), two models, three keys (one without
 * a user), and a row on each side of the range. Costs whose float sum is not exact
 * (0.1 + 0.2) show the sums are the database's, exact.
 */
const SPECS: Spec[] = [
  { at: '2026-10-30T23:59:59.999Z', model: 'm-a', ...A, tokens: [1, 1, 0], cost: 9 },
  { at: '2026-10-31T12:00:00.000Z', model: 'm-a', ...A, tokens: [10, 5, 0], cost: 0.1 },
  {
    at: '2026-11-01T00:00:00.000Z',
    model: 'm-a',
    ...A,
    tokens: [100, 50, 20],
    cost: 0.2,
    streamed: true,
  },
  { at: '2026-11-01T23:59:59.999Z', model: 'm-b', ...B, tokens: [1000, 500, 0], cost: 1.5 },
  { at: '2026-11-02T00:00:00.000Z', model: 'm-a', ...B, tokens: [7, 0, 0], cost: 0, status: 502 },
  {
    at: '2026-11-02T10:00:00.000Z',
    model: 'm-b',
    ...N,
    tokens: [3, 2, 1],
    cost: 0.0000000001,
    status: 499,
    streamed: true,
  },
  { at: '2026-11-03T00:00:00.000Z', model: 'm-a', ...A, tokens: [1, 1, 0], cost: 9 },
];
const RANGE = { from: new Date('2026-10-31T00:00:00Z'), to: new Date('2026-11-03T00:00:00Z') };

const zero = {
  requests: 0,
  inputTokens: 0,
  outputTokens: 0,
  cachedTokens: 0,
  cost: 0,
  errors: 0,
  streamed: 0,
  cacheHits: 0,
  savedTokens: 0,
  savedCost: 0,
};

describe.each(BACKENDS)('usage report on %s', (kind) => {
  let services: TestServices;
  let report: UsageReport;
  const query = (extra: UsageReportQuery = {}, now?: Date) =>
    report.query('acme', { ...RANGE, ...extra }, now);

  beforeAll(async () => {
    services = await servicesOn(kind);
    const acme = await services.tenants.create({ slug: 'acme', name: 'Acme' });
    const globex = await services.tenants.create({ slug: 'globex', name: 'Globex' });
    await services.usageRecords.write(
      acme.id,
      SPECS.map((spec) => event(acme.id, spec)),
    );
    // Another tenant's usage in the same range, on the same keys' names: never counted.
    await services.usageRecords.write(globex.id, [
      event(globex.id, { ...SPECS[2], tokens: [5000, 5000, 0] } as Spec),
    ]);
    // A session a day ahead of UTC would put 23:59 UTC rows on the next day if the
    // grouping followed the session's time zone. PGlite has one session per database and
    // ignores per-database settings; PostgreSQL's pool opens new sessions with them.
    const db = services.tenants.database(acme);
    if (kind === 'pglite') {
      await sql`set timezone to 'Pacific/Kiritimati'`.execute(db);
    } else {
      const { rows } = await sql<{ name: string }>`select current_database() as name`.execute(db);
      const name = sql.id(rows[0]?.name ?? '');
      await sql`alter database ${name} set timezone to 'Pacific/Kiritimati'`.execute(db);
      await services.connections.release(acme);
    }
    report = new UsageReport(services.tenants);
  }, 90_000);
  afterAll(() => services?.close(), 60_000);

  it('sums per UTC day, whatever the session time zone, with exact totals', async () => {
    const db = services.tenants.readDatabase(await services.tenants.get('acme'));
    const { rows } = await sql<{
      timezone: string;
    }>`select current_setting('TimeZone') as timezone`.execute(db);
    expect(rows[0]?.timezone).toBe('Pacific/Kiritimati');

    const result = await query();
    expect(result.groupBy).toEqual(['day']);
    expect([result.from, result.to]).toEqual([RANGE.from, RANGE.to]);
    expect(result.rows).toEqual([
      { ...zero, day: '2026-10-31', requests: 1, inputTokens: 10, outputTokens: 5, cost: 0.1 },
      {
        ...zero,
        day: '2026-11-01',
        requests: 2,
        inputTokens: 1100,
        outputTokens: 550,
        cachedTokens: 20,
        cost: 1.7,
        errors: 0,
        streamed: 1,
      },
      {
        ...zero,
        day: '2026-11-02',
        requests: 2,
        inputTokens: 10,
        outputTokens: 2,
        cachedTokens: 1,
        cost: 0.0000000001,
        errors: 2,
        streamed: 1,
      },
    ]);
    expect(result.totals).toEqual({
      ...zero,
      requests: 5,
      inputTokens: 1120,
      outputTokens: 557,
      cachedTokens: 21,
      cost: 1.8000000001,
      errors: 2,
      streamed: 2,
    });
  });

  it('groups by model, user and key, keys without a user under null', async () => {
    const byModel = await query({ groupBy: ['model'] });
    expect(byModel.rows.map((row) => [row.model, row.requests, row.inputTokens, row.cost])).toEqual(
      [
        ['m-a', 3, 117, 0.3],
        ['m-b', 2, 1003, 1.5000000001],
      ],
    );
    expect(byModel.rows[0]).not.toHaveProperty('day');

    const byUser = await query({ groupBy: ['user'] });
    expect(byUser.rows.map((row) => [row.userId, row.requests, row.outputTokens])).toEqual([
      ['usr_a', 2, 55],
      ['usr_b', 2, 500],
      [null, 1, 2],
    ]);

    const byKeyDay = await query({ groupBy: ['key', 'day'] });
    expect(byKeyDay.rows.map((row) => [row.keyId, row.day, row.requests, row.errors])).toEqual([
      ['key_a', '2026-10-31', 1, 0],
      ['key_a', '2026-11-01', 1, 0],
      ['key_b', '2026-11-01', 1, 0],
      ['key_b', '2026-11-02', 1, 1],
      ['key_n', '2026-11-02', 1, 1],
    ]);
    expect(byKeyDay.totals).toEqual((await query()).totals);

    const all = await query({ groupBy: ['day', 'model', 'user', 'key'] });
    expect(all.rows).toHaveLength(5);
    expect(all.rows[2]).toEqual({
      ...zero,
      day: '2026-11-01',
      model: 'm-b',
      userId: 'usr_b',
      keyId: 'key_b',
      requests: 1,
      inputTokens: 1000,
      outputTokens: 500,
      cachedTokens: 0,
      cost: 1.5,
      errors: 0,
      streamed: 0,
    });
  });

  it('filters by model, user and key, and by what a caller owns', async () => {
    const totals = async (extra: UsageReportQuery) => (await query(extra)).totals;
    expect(await totals({ model: 'm-a' })).toMatchObject({ requests: 3, inputTokens: 117 });
    expect(await totals({ userId: 'usr_b' })).toMatchObject({ requests: 2, inputTokens: 1007 });
    expect(await totals({ keyId: 'key_n' })).toMatchObject({ requests: 1, errors: 1 });
    expect(await totals({ model: 'm-b', userId: 'usr_b' })).toMatchObject({ requests: 1 });
    expect(await totals({ own: { userId: 'usr_b', keyId: 'key_n' } })).toMatchObject({
      requests: 3,
      inputTokens: 1010,
    });
    expect(await totals({ own: { userId: null, keyId: 'key_n' } })).toMatchObject({
      requests: 1,
    });
    // The filters narrow what one owns, never widen it.
    const narrowed = await query({ own: { userId: null, keyId: 'key_n' }, userId: 'usr_a' });
    expect([narrowed.rows, narrowed.totals]).toEqual([[], zero]);
    const none = await query({ model: 'nobody' });
    expect([none.rows, none.totals]).toEqual([[], zero]);
  });

  it('shows cache hits and what they saved, outside the upstream token sums', async () => {
    const hits = await services.tenants.create({ slug: `hits-${kind}`, name: 'Hits' });
    const at = '2026-11-01T08:00:00.000Z';
    await services.usageRecords.write(hits.id, [
      event(hits.id, { at, model: 'm-a', ...A, tokens: [10, 4, 0], cost: 0.3 }),
      event(hits.id, {
        at,
        model: 'm-a',
        ...A,
        tokens: [10, 4, 0],
        cost: 0.01,
        cacheHit: true,
        savedCost: 0.3,
      }),
    ]);
    const { totals } = await report.query(hits.id, RANGE);
    expect(totals).toEqual({
      ...zero,
      requests: 2,
      inputTokens: 10,
      outputTokens: 4,
      cost: 0.31,
      cacheHits: 1,
      savedTokens: 14,
      savedCost: 0.3,
    });
  });

  it('covers the last 30 days by day when asked for nothing, up to 366 days', async () => {
    const now = new Date('2026-11-30T00:00:00Z');
    const result = await report.query('acme', {}, now);
    expect(result.from).toEqual(new Date('2026-10-31T00:00:00Z'));
    expect(result.to).toEqual(now);
    expect(result.groupBy).toEqual(['day']);
    // The row at 2026-11-03 is in; the one on 2026-10-30 is not.
    expect(result.totals.requests).toBe(6);
    expect(result.rows.at(-1)).toMatchObject({ day: '2026-11-03', requests: 1 });
    const onlyTo = await report.query('acme', { to: RANGE.to }, now);
    expect(onlyTo.from).toEqual(new Date('2026-10-04T00:00:00Z'));
    const year = await query({ from: new Date('2025-11-02T00:00:00Z') });
    expect(year.totals.requests).toBe(6);
  });

  it('refuses ranges and groups it cannot answer, naming the parameter', async () => {
    const cases: [UsageReportQuery, string, RegExp][] = [
      [{ from: RANGE.to, to: RANGE.to }, 'from', /must be before/],
      [{ from: RANGE.to, to: RANGE.from }, 'from', /must be before/],
      [{ from: new Date('2025-11-01T23:59:59.999Z') }, 'from', /longer than 366 days/],
      [{ from: new Date('nonsense') }, 'from', /not a valid date/],
      [{ groupBy: [] }, 'group_by', /at least one/],
      [{ groupBy: ['day', 'day'] }, 'group_by', /twice/],
      [{ groupBy: ['week'] as unknown as UsageReportQuery['groupBy'] }, 'group_by', /'week'/],
    ];
    for (const [extra, param, message] of cases) {
      await expect(query(extra), JSON.stringify(extra)).rejects.toMatchObject({
        code: 'invalid_request',
        param,
        message: expect.stringMatching(message),
      });
    }
    await expect(report.query('nobody', RANGE)).rejects.toMatchObject({
      code: 'tenant_not_found',
    });
  });
});

describe('query string parsing', () => {
  it('reads dates, date-times with a zone, and group lists', () => {
    expect(parseInstant('2026-11-01', 'from')).toEqual(new Date('2026-11-01T00:00:00Z'));
    expect(parseInstant('2026-11-01T10:00:00+02:00', 'from')).toEqual(
      new Date('2026-11-01T08:00:00Z'),
    );
    // An unencoded '+' arrives as a space.
    expect(parseInstant('2026-11-01T10:00:00 02:00', 'from')).toEqual(
      new Date('2026-11-01T08:00:00Z'),
    );
    expect(parseInstant('2026-11-01T10:00:00.5Z', 'to')).toEqual(
      new Date('2026-11-01T10:00:00.500Z'),
    );
    expect(parseGroupBy('day, model,key')).toEqual(['day', 'model', 'key']);
  });

  it.each([
    '2026-02-30',
    '2026-13-01',
    '2026-11-01T10:00:00',
    '2026-11-01T25:00:00Z',
    '1 Nov 2026',
    '1793491200000',
    '',
  ])('refuses %j', (text) => {
    expect(() => parseInstant(text, 'to')).toThrow(
      expect.objectContaining({ code: 'invalid_request', param: 'to' }),
    );
  });

  it.each(['', 'day,', 'week', 'day,day'])('refuses group_by %j', (text) => {
    expect(() => parseGroupBy(text)).toThrow(
      expect.objectContaining({ code: 'invalid_request', param: 'group_by' }),
    );
  });
});

describe('GET /admin/v1/tenants/{tenant}/usage', () => {
  const { gateway } = useUpstreamGateway();
  const secrets: Record<string, string> = {};
  let ownerKey: string;
  let memberKey: string;
  const now = Date.now();
  const ago = (ms: number) => new Date(now - ms).toISOString();
  const HOUR = 3_600_000;

  beforeAll(async () => {
    const { users, keys, tenants, usageRecords } = gateway.services;
    const member = await users.create('test', { email: 'm@test.test', name: 'M', role: 'member' });
    const made = await keys.create('test', { name: 'm', role: 'member', userId: member.id });
    memberKey = made.key.id;
    secrets.member = made.secret;
    for (const role of ['viewer', 'billing'] as const)
      secrets[role] = (await keys.create('test', { name: role, role })).secret;
    ownerKey = (await keys.list('test')).find((key) => key.name === 'test')?.id ?? '';
    await tenants.create({ slug: 'other', name: 'Other' });
    secrets.other = (await keys.create('other', { name: 'o', role: 'owner' })).secret;
    const test = await tenants.get('test');
    const owner = { keyId: ownerKey, userId: null };
    const mine = { keyId: memberKey, userId: member.id };
    await usageRecords.write(test.id, [
      event(test.id, { at: ago(HOUR), model: 'gpt-test', ...owner, tokens: [10, 2, 0], cost: 0.5 }),
      event(test.id, {
        at: ago(2 * HOUR),
        model: 'gpt-test',
        ...mine,
        tokens: [4, 1, 0],
        cost: 0.25,
      }),
      // Outside the default 30 days.
      event(test.id, {
        at: ago(40 * 24 * HOUR),
        model: 'gpt-test',
        ...owner,
        tokens: [99, 9, 0],
        cost: 9,
      }),
    ]);
  }, 60_000);

  const get = (query: string, as?: string) =>
    gateway.fetch(`/admin/v1/tenants/test/usage${query}`, {
      headers: as === undefined ? {} : { authorization: `Bearer ${as}` },
    });

  it('reports the last 30 days by day by default, in full', async () => {
    const response = await get('');
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      from: string;
      to: string;
      data: { day: string }[];
      totals: Record<string, number>;
    };
    const to = Date.parse(body.to);
    expect(Math.abs(to - Date.now())).toBeLessThan(60_000);
    expect(to - Date.parse(body.from)).toBe(30 * 24 * HOUR);
    expect(body).toMatchObject({
      object: 'usage_report',
      group_by: ['day'],
      totals: {
        requests: 2,
        input_tokens: 14,
        output_tokens: 3,
        cached_tokens: 0,
        cost: 0.75,
        errors: 0,
        streamed: 0,
      },
    });
    expect(
      body.data.reduce((sum, row) => sum + (row as unknown as { requests: number }).requests, 0),
    ).toBe(2);
    expect(body.data.every((row) => /^\d{4}-\d{2}-\d{2}$/.test(row.day))).toBe(true);
  });

  it('groups and filters from the query string', async () => {
    const from = encodeURIComponent(ago(3 * HOUR));
    const response = await get(`?from=${from}&group_by=key,model&model=gpt-test`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: unknown[]; group_by: string[] };
    expect(body.group_by).toEqual(['key', 'model']);
    expect(body.data).toEqual(
      [
        { key_id: ownerKey, model: 'gpt-test', requests: 1, input_tokens: 10, output_tokens: 2 },
        { key_id: memberKey, model: 'gpt-test', requests: 1, input_tokens: 4, output_tokens: 1 },
      ]
        .map((row) => ({ ...row, cached_tokens: 0, errors: 0, streamed: 0 }))
        .map((row) => ({ ...row, cache_hits: 0, saved_tokens: 0, saved_cost: 0 }))
        .map((row) => ({ ...row, cost: row.input_tokens === 10 ? 0.5 : 0.25 }))
        .sort((x, y) => x.key_id.localeCompare(y.key_id)),
    );
    const byKey = (await (await get(`?key_id=${memberKey}`)).json()) as {
      totals: { requests: number };
    };
    expect(byKey.totals.requests).toBe(1);
  });

  it('shows a member its own usage only, and costs only to billing:read', async () => {
    const totals = async (as: string, query = '') => {
      const response = await get(query, as);
      expect(response.status, `${as} ${query}`).toBe(200);
      return ((await response.json()) as { totals: { requests: number; cost: number | null } })
        .totals;
    };
    expect(await totals(gateway.adminKey)).toMatchObject({ requests: 2, cost: 0.75 });
    expect(await totals(secrets.billing ?? '')).toMatchObject({ requests: 2, cost: 0.75 });
    expect(await totals(secrets.viewer ?? '')).toMatchObject({ requests: 2, cost: null });
    expect(await totals(secrets.member ?? '')).toMatchObject({ requests: 1, cost: null });
    expect(await totals(secrets.member ?? '', `?key_id=${ownerKey}`)).toMatchObject({
      requests: 0,
    });
    const rows = (await (await get('?group_by=key', secrets.viewer)).json()) as {
      data: { cost: number | null }[];
    };
    expect(rows.data.map((row) => row.cost)).toEqual([null, null]);
  });

  it("refuses another tenant's keys, by slug or id, before anything is read", async () => {
    const test = await gateway.services.tenants.get('test');
    for (const ref of ['test', test.id]) {
      const response = await gateway.fetch(`/admin/v1/tenants/${ref}/usage?group_by=bogus`, {
        headers: { authorization: `Bearer ${secrets.other}` },
      });
      expect([
        response.status,
        ((await response.json()) as { error: { code: string } }).error.code,
      ]).toEqual([403, 'permission_denied']);
    }
    const own = await gateway.fetch('/admin/v1/tenants/other/usage', {
      headers: { authorization: `Bearer ${secrets.other}` },
    });
    expect(((await own.json()) as { totals: { requests: number } }).totals.requests).toBe(0);
  });

  it.each([
    ['?from=yesterday', 'from'],
    ['?to=2026-11-01T10:00:00', 'to'],
    ['?from=2026-11-02&to=2026-11-01', 'from'],
    ['?from=2024-01-01&to=2026-01-01', 'from'],
    ['?group_by=week', 'group_by'],
    ['?group_by=', 'group_by'],
    ['?model=', 'model'],
    ['?colour=red', null],
  ])('answers %s with 400 invalid_request', async (query, param) => {
    const response = await get(query);
    const body = (await response.json()) as { error: { code: string; param: string | null } };
    expect([response.status, body.error.code]).toEqual([400, 'invalid_request']);
    if (param !== null) expect(body.error.param).toBe(param);
  });
});
