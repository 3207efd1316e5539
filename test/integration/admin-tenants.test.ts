import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.js';
import { useUpstreamGateway } from '../helpers/gateway.js';
import type { TestServices } from '../helpers/tenant-services.js';

const { gateway } = useUpstreamGateway();

interface TenantJson {
  object: string;
  id: string;
  slug: string;
  name: string;
  status: string;
  delete_after: string | null;
}

const call = (key: string, path: string, init: RequestInit = {}) => {
  const headers = new Headers(init.headers);
  if (init.body !== undefined) headers.set('content-type', 'application/json');
  headers.set('authorization', `Bearer ${key}`);
  return gateway.fetch(`/admin/v1${path}`, { ...init, headers });
};
const asAdmin = (path: string, init?: RequestInit) => call(gateway.adminKey, path, init);
const json = async <T>(response: Response | Promise<Response>) =>
  (await (await response).json()) as T;
const sdk = (key: string) =>
  new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
const chat = {
  model: 'org/model-with-slash',
  messages: [{ role: 'user' as const, content: 'hi' }],
};

describe('/admin/v1/tenants with a platform admin key', () => {
  it('onboards a tenant end to end: tenant, user, key, a completion, the audit trail', async () => {
    const created = await asAdmin('/tenants', {
      method: 'POST',
      body: JSON.stringify({ slug: 'onboard', name: 'Onboard Inc' }),
    });
    expect(created.status).toBe(201);
    const tenant = await json<TenantJson>(created);
    expect(tenant).toMatchObject({ object: 'tenant', slug: 'onboard', status: 'active' });
    expect(tenant.id).toMatch(/^tnt_/);

    const user = await json<{ id: string }>(
      asAdmin('/tenants/onboard/users', {
        method: 'POST',
        body: JSON.stringify({ email: 'dev@onboard.test', name: 'Dev', role: 'member' }),
      }),
    );
    const key = await json<{ id: string; secret: string }>(
      asAdmin('/tenants/onboard/api-keys', {
        method: 'POST',
        body: JSON.stringify({ name: 'dev', role: 'member', user_id: user.id }),
      }),
    );
    const completion = await sdk(key.secret).chat.completions.create(chat);
    expect(completion.choices[0]?.message.content).toBeTruthy();

    // The platform log holds the tenant; the tenant's own log the user and the key, each
    // with the platform key as actor.
    const control = (gateway.services as TestServices).backend.control;
    const platform = await control
      .selectFrom('platform_audit_log')
      .select(['action', 'actor_type'])
      .where('target_id', '=', tenant.id)
      .execute();
    expect(platform).toEqual([{ action: 'tenant.create', actor_type: 'platform_key' }]);
    const own = await json<{ data: { action: string; actor_type: string }[] }>(
      asAdmin('/tenants/onboard/audit-logs'),
    );
    expect(own.data.map((entry) => [entry.action, entry.actor_type])).toEqual(
      expect.arrayContaining([
        ['user.create', 'platform_key'],
        ['api_key.create', 'platform_key'],
      ]),
    );
  });

  it('lists, gets by id or slug, renames, disables, enables and deletes', async () => {
    const tenant = await json<TenantJson>(
      asAdmin('/tenants', { method: 'POST', body: JSON.stringify({ slug: 'life', name: 'Life' }) }),
    );
    const { secret } = await gateway.services.keys.create('life', { name: 'k', role: 'owner' });
    const listed = await json<{ object: string; data: TenantJson[] }>(asAdmin('/tenants'));
    expect(listed.object).toBe('list');
    expect(listed.data.map((t) => t.slug)).toEqual(expect.arrayContaining(['test', 'life']));
    expect(await json<TenantJson>(asAdmin(`/tenants/${tenant.id}`))).toEqual(tenant);
    expect((await json<TenantJson>(asAdmin('/tenants/life'))).id).toBe(tenant.id);

    const renamed = await json<TenantJson>(
      asAdmin('/tenants/life', { method: 'PATCH', body: JSON.stringify({ name: 'Life 2' }) }),
    );
    expect(renamed.name).toBe('Life 2');

    const disabled = await asAdmin('/tenants/life', {
      method: 'PATCH',
      body: JSON.stringify({ status: 'disabled' }),
    });
    expect((await json<TenantJson>(disabled)).status).toBe('disabled');
    const refused = await apiError(sdk(secret).models.list());
    expect([refused.status, refused.code]).toEqual([403, 'tenant_disabled']);
    await asAdmin('/tenants/life', { method: 'PATCH', body: JSON.stringify({ status: 'active' }) });
    await expect(sdk(secret).models.list()).resolves.toBeDefined();

    const deleted = await json<TenantJson>(asAdmin('/tenants/life', { method: 'DELETE' }));
    expect(deleted.status).toBe('deleting');
    expect(deleted.delete_after).not.toBeNull();
    // A retried delete keeps the first deadline.
    const again = await json<TenantJson>(asAdmin('/tenants/life', { method: 'DELETE' }));
    expect(again.delete_after).toBe(deleted.delete_after);
    expect((await apiError(sdk(secret).models.list())).status).toBe(401);
  });

  it('refuses bad input and changes nothing', async () => {
    const before = (await gateway.services.tenants.list()).length;
    const cases: [RequestInit & { path?: string }, number, string][] = [
      [
        { method: 'POST', body: JSON.stringify({ slug: 'Bad Slug!', name: 'x' }) },
        400,
        'invalid_request',
      ],
      [{ method: 'POST', body: JSON.stringify({ slug: 'ok-slug' }) }, 400, 'invalid_request'],
      [
        { method: 'POST', body: JSON.stringify({ slug: 'ok-slug', name: 'x', extra: 1 }) },
        400,
        'invalid_request',
      ],
      [{ method: 'POST', body: '{"slug":' }, 400, 'invalid_json'],
      [
        { method: 'POST', body: JSON.stringify({ slug: 'test', name: 'dup' }) },
        409,
        'tenant_exists',
      ],
      [{ path: '/tenants/no-such-tenant' }, 404, 'tenant_not_found'],
      [{ path: '/tenants/test', method: 'PATCH', body: '{}' }, 400, 'invalid_request'],
      [
        { path: '/tenants/test', method: 'PATCH', body: JSON.stringify({ status: 'deleting' }) },
        400,
        'invalid_request',
      ],
    ];
    for (const [{ path = '/tenants', ...init }, status, code] of cases) {
      const response = await asAdmin(path, init);
      const body = await json<{ error: { code: string } }>(response);
      expect([response.status, body.error.code], `${init.method} ${path} ${init.body}`).toEqual([
        status,
        code,
      ]);
    }
    expect((await gateway.services.tenants.list()).length).toBe(before);
    expect((await gateway.services.tenants.get('test')).name).toBe('Test');
  });

  it('lists the models but calls none: a platform key has no tenant to bill', async () => {
    const models = await sdk(gateway.adminKey).models.list();
    expect(models.data.length).toBeGreaterThan(0);
    const error = await apiError(sdk(gateway.adminKey).chat.completions.create(chat));
    expect([error.status, error.code]).toEqual([403, 'permission_denied']);
  });

  it('stops working at once when revoked', async () => {
    const { key, secret } = await gateway.services.platformKeys.create({ name: 'short-lived' });
    expect((await call(secret, '/tenants')).status).toBe(200);
    await gateway.services.platformKeys.revoke(key.id);
    const response = await call(secret, '/tenants');
    expect(response.status).toBe(401);
  });
});

describe('/admin/v1/tenants with a tenant key', () => {
  it("shows and renames only the caller's own tenant; creating, disabling, deleting are refused", async () => {
    await gateway.services.tenants.create({ slug: 'bystander', name: 'Bystander' });
    const own = gateway.apiKey;
    const listed = await json<{ data: TenantJson[] }>(call(own, '/tenants'));
    expect(listed.data.map((t) => t.slug)).toEqual(['test']);
    expect((await call(own, '/tenants/test')).status).toBe(200);

    const refusals: [string, RequestInit][] = [
      ['/tenants', { method: 'POST', body: JSON.stringify({ slug: 'mine', name: 'Mine' }) }],
      ['/tenants/test', { method: 'PATCH', body: JSON.stringify({ status: 'disabled' }) }],
      [
        '/tenants/test',
        { method: 'PATCH', body: JSON.stringify({ name: 'X', status: 'disabled' }) },
      ],
      ['/tenants/test', { method: 'DELETE' }],
      ['/tenants/bystander', {}],
      ['/tenants/bystander', { method: 'PATCH', body: JSON.stringify({ name: 'Pwned' }) }],
      ['/tenants/bystander', { method: 'DELETE' }],
      ['/tenants/no-such-tenant', {}],
    ];
    for (const [path, init] of refusals) {
      const response = await call(own, path, init);
      const body = await json<{ error: { code: string } }>(response);
      expect([response.status, body.error.code], `${init.method ?? 'GET'} ${path}`).toEqual([
        403,
        'permission_denied',
      ]);
    }
    const test = await gateway.services.tenants.get('test');
    expect([test.name, test.status]).toEqual(['Test', 'active']);
    const bystander = await gateway.services.tenants.get('bystander');
    expect([bystander.name, bystander.status]).toEqual(['Bystander', 'active']);
    expect(await gateway.services.tenants.list()).not.toContainEqual(
      expect.objectContaining({ slug: 'mine' }),
    );

    const renamed = await json<TenantJson>(
      call(own, '/tenants/test', { method: 'PATCH', body: JSON.stringify({ name: 'Renamed' }) }),
    );
    expect(renamed.name).toBe('Renamed');
    await gateway.services.tenants.rename('test', 'Test');
  });

  it('refuses a member, who may not read the tenant', async () => {
    const { secret } = await gateway.services.keys.create('test', { name: 'm', role: 'member' });
    expect((await call(secret, '/tenants')).status).toBe(403);
    expect((await call(secret, '/tenants/test')).status).toBe(403);
  });
});

describe('the logs of every flow above', () => {
  it('hold no API key secret and no Authorization header', () => {
    const all = JSON.stringify(gateway.logs);
    expect(gateway.logs.length).toBeGreaterThan(20);
    expect(all).not.toMatch(/llmb_[0-9A-Za-z]{38}/);
    expect(all).not.toContain(gateway.adminKey);
    expect(all.toLowerCase()).not.toContain('bearer ');
  });
});
