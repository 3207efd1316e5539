import { describe, expect, it } from 'vitest';
import { LIMIT_KIND_NAMES, limitKind, perLimitKind } from '../../src/domain/limit-kinds.js';
import { useUpstreamGateway } from '../helpers/gateway.js';

const { gateway } = useUpstreamGateway();

interface LimitJson {
  object: string;
  id: string;
  scope: string;
  subject_id: string | null;
  model: string | null;
  requests_per_minute: number | null;
  tokens_per_minute: number | null;
  max_concurrent_requests: number | null;
}

const limits = (init: RequestInit & { key?: string; path?: string } = {}) => {
  const headers = new Headers(init.headers);
  if (init.body !== undefined) headers.set('content-type', 'application/json');
  if (init.key !== undefined) headers.set('authorization', `Bearer ${init.key}`);
  return gateway.fetch(`/admin/v1/tenants/test/limits${init.path ?? ''}`, { ...init, headers });
};
const post = (body: unknown, key?: string) =>
  limits({ method: 'POST', body: JSON.stringify(body), key });

describe('/admin/v1/tenants/{tenant}/limits', () => {
  it('sets, replaces, lists and lifts rules, each change audited', async () => {
    const created = await post({ scope: 'tenant', requests_per_minute: 600 });
    expect(created.status).toBe(201);
    const rule = (await created.json()) as LimitJson;
    expect(rule).toMatchObject({
      object: 'rate_limit',
      scope: 'tenant',
      subject_id: null,
      model: null,
      requests_per_minute: 600,
      tokens_per_minute: null,
    });
    // The same target again replaces the rule (a limit left out is lifted).
    const replaced = await post({ scope: 'tenant', tokens_per_minute: 90_000 });
    expect(replaced.status).toBe(200);
    expect(await replaced.json()).toMatchObject({
      id: rule.id,
      requests_per_minute: null,
      tokens_per_minute: 90_000,
    });
    const perModel = (await (
      await post({ scope: 'tenant', model: 'gpt-test', max_concurrent_requests: 4 })
    ).json()) as LimitJson;
    expect(perModel.id).not.toBe(rule.id);

    const listed = (await (await limits()).json()) as { object: string; data: LimitJson[] };
    expect(listed.data.map((item) => item.id).sort()).toEqual([rule.id, perModel.id].sort());

    for (const id of [rule.id, perModel.id])
      expect((await limits({ method: 'DELETE', path: `/${id}` })).status).toBe(200);
    expect(((await (await limits()).json()) as { data: unknown[] }).data).toEqual([]);
    const audit = (await (
      await gateway.fetch('/admin/v1/tenants/test/audit-logs?action=rate_limit.*')
    ).json()) as { data: { action: string }[] };
    expect(audit.data.map((entry) => entry.action)).toEqual([
      'rate_limit.delete',
      'rate_limit.delete',
      'rate_limit.set',
      'rate_limit.set',
      'rate_limit.set',
    ]);
  });

  it('binds users and keys by id, and refuses ids the tenant does not have', async () => {
    const user = await gateway.services.users.create('test', {
      email: 'limits@test.test',
      name: 'L',
      role: 'member',
    });
    const { key } = await gateway.services.keys.create('test', { name: 'l', role: 'member' });
    for (const [scope, id] of [
      ['user', user.id],
      ['key', key.id],
    ] as const) {
      const response = await post({ scope, subject_id: id, requests_per_minute: 5 });
      expect(response.status).toBe(201);
      await limits({ method: 'DELETE', path: `/${((await response.json()) as LimitJson).id}` });
    }
    for (const [body, status, code, param] of [
      [
        { scope: 'user', subject_id: 'usr_nobody', requests_per_minute: 5 },
        404,
        'user_not_found',
        'subject_id',
      ],
      [
        { scope: 'key', subject_id: 'key_nobody', requests_per_minute: 5 },
        404,
        'key_not_found',
        'subject_id',
      ],
      [{ scope: 'user', requests_per_minute: 5 }, 400, 'invalid_request', 'subject_id'],
      [
        { scope: 'tenant', subject_id: user.id, requests_per_minute: 5 },
        400,
        'invalid_request',
        'subject_id',
      ],
      [{ scope: 'tenant' }, 400, 'invalid_request', 'requests_per_minute'],
    ] as const) {
      const response = await post(body);
      expect([response.status, await response.json()], JSON.stringify(body)).toEqual([
        status,
        { error: expect.objectContaining({ code, param }) },
      ]);
    }
    expect(await gateway.services.limitRules.list('test')).toEqual([]);
  });

  it('refuses malformed bodies and unknown rules, changing nothing', async () => {
    for (const body of [
      { scope: 'galaxy', requests_per_minute: 5 },
      { scope: 'tenant', requests_per_minute: 0 },
      { scope: 'tenant', requests_per_minute: -1 },
      { scope: 'tenant', requests_per_minute: 1.5 },
      { scope: 'tenant', requests_per_minute: '5' },
      { scope: 'tenant', requests_per_minute: 5, colour: 'red' },
    ]) {
      const response = await post(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
    const bad = await limits({ method: 'POST', body: '{"scope":' });
    expect(bad.status).toBe(400);
    const missing = await limits({ method: 'DELETE', path: '/lim_nobody' });
    expect([
      missing.status,
      ((await missing.json()) as { error: { code: string } }).error.code,
    ]).toEqual([404, 'limit_not_found']);
    expect(await gateway.services.limitRules.list('test')).toEqual([]);
  });

  it('stores every kind of the catalogue in its column, and audits the rule as shown', async () => {
    // Distinct values, the last at its kind's maximum: each lands in a column of its own.
    const values = perLimitKind((name, { min }) => min + LIMIT_KIND_NAMES.indexOf(name));
    const last = LIMIT_KIND_NAMES[LIMIT_KIND_NAMES.length - 1] ?? LIMIT_KIND_NAMES[0];
    values[last] = limitKind(last).max;
    const created = await post({ scope: 'tenant', ...values });
    expect(created.status).toBe(201);
    const rule = (await created.json()) as Record<string, unknown>;
    expect(rule).toMatchObject(values);
    const listed = (await (await limits()).json()) as { data: unknown[] };
    expect(listed.data).toEqual([rule]);
    for (const name of LIMIT_KIND_NAMES) {
      const above = await post({ scope: 'tenant', [name]: limitKind(name).max + 1 });
      expect(above.status, name).toBe(400);
    }
    expect((await limits({ method: 'DELETE', path: `/${rule.id}` })).status).toBe(200);
    const audit = (await (
      await gateway.fetch(`/admin/v1/tenants/test/audit-logs?target_id=${rule.id}`)
    ).json()) as { data: { action: string; before: unknown; after: unknown }[] };
    expect(audit.data).toEqual([
      expect.objectContaining({ action: 'rate_limit.delete', before: rule, after: null }),
      expect.objectContaining({ action: 'rate_limit.set', before: null, after: rule }),
    ]);
  });

  it('lets viewers read and only managers write', async () => {
    const viewer = (await gateway.services.keys.create('test', { name: 'v', role: 'viewer' }))
      .secret;
    const member = (await gateway.services.keys.create('test', { name: 'm', role: 'member' }))
      .secret;
    expect((await limits({ key: viewer })).status).toBe(200);
    expect((await post({ scope: 'tenant', requests_per_minute: 1 }, viewer)).status).toBe(403);
    expect((await limits({ key: member })).status).toBe(403);
    expect((await post({ scope: 'tenant', requests_per_minute: 1 }, member)).status).toBe(403);
    expect(await gateway.services.limitRules.list('test')).toEqual([]);
  });
});
