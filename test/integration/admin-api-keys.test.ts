import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { useUpstreamGateway } from '../helpers/gateway.js';

const { gateway } = useUpstreamGateway();
let otherKey: string;

beforeAll(async () => {
  await gateway.services.tenants.create({ slug: 'other', name: 'Other' });
  otherKey = (await gateway.services.keys.create('other', { name: 'other-owner', role: 'owner' }))
    .secret;
}, 30_000);

interface KeyJson {
  id: string;
  secret?: string;
  role: string;
  revoked_at: string | null;
}

const admin = (path: string, init: RequestInit & { key?: string } = {}) => {
  const headers = new Headers(init.headers);
  if (init.body !== undefined) headers.set('content-type', 'application/json');
  if (init.key !== undefined) headers.set('authorization', `Bearer ${init.key}`);
  return gateway.fetch(`/admin/v1/tenants/${path}`, { ...init, headers });
};
const works = async (key: string) => {
  const client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  return client.models.list().then(
    () => true,
    () => false,
  );
};

describe('/admin/v1/tenants/{tenant}/api-keys', () => {
  it('lets an owner create, list, get, rotate and revoke keys', async () => {
    const created = await admin('test/api-keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'ci', role: 'member' }),
    });
    expect(created.status).toBe(201);
    const key = (await created.json()) as KeyJson;
    expect(key.secret).toMatch(/^llmb_/);
    expect(await works(key.secret as string)).toBe(true);

    const listed = (await (await admin('test/api-keys')).json()) as { data: KeyJson[] };
    expect(listed.data.map((k) => k.id)).toContain(key.id);
    expect(JSON.stringify(listed)).not.toContain(key.secret);
    expect(await (await admin(`test/api-keys/${key.id}`)).json()).toMatchObject({
      id: key.id,
      role: 'member',
    });

    const rotated = (await (
      await admin(`test/api-keys/${key.id}/rotate`, {
        method: 'POST',
        body: JSON.stringify({ grace_seconds: 600 }),
      })
    ).json()) as KeyJson;
    expect(rotated.secret).not.toBe(key.secret);
    expect(await works(key.secret as string)).toBe(true);
    expect(await works(rotated.secret as string)).toBe(true);

    // As curl wrappers send it: the JSON content type on a DELETE without a body.
    const revocation = await admin(`test/api-keys/${key.id}`, {
      method: 'DELETE',
      headers: { 'content-type': 'application/json' },
    });
    expect(revocation.status).toBe(200);
    const revoked = (await revocation.json()) as KeyJson;
    expect(revoked.revoked_at).not.toBeNull();
    expect(await works(key.secret as string)).toBe(false);
    expect(await works(rotated.secret as string)).toBe(false);
  });

  it("refuses another tenant's keys, and changes nothing there", async () => {
    const before = await gateway.services.keys.list('other');
    const otherId = before[0]?.id as string;
    for (const [path, method] of [
      ['other/api-keys', 'GET'],
      ['other/api-keys', 'POST'],
      [`other/api-keys/${otherId}`, 'DELETE'],
      [`other/api-keys/${otherId}/rotate`, 'POST'],
      ['no-such-tenant/api-keys', 'GET'],
    ] as const) {
      const body = method === 'POST' ? JSON.stringify({ name: 'x' }) : undefined;
      const response = await admin(path, { method, body });
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ error: { code: 'permission_denied' } });
    }
    // Its key id in our own tenant's path is simply unknown here.
    const mixed = await admin(`test/api-keys/${otherId}`, { method: 'DELETE' });
    expect(mixed.status).toBe(404);
    expect(await gateway.services.keys.list('other')).toEqual(before);
    expect(await works(otherKey)).toBe(true);
  });

  it('enforces roles: a member without a user makes no key and sees only its own; viewers cannot read audit logs', async () => {
    const member = (await gateway.services.keys.create('test', { name: 'm', role: 'member' }))
      .secret;
    const create = await admin('test/api-keys', {
      method: 'POST',
      key: member,
      body: JSON.stringify({ name: 'x' }),
    });
    expect(create.status).toBe(403);
    const seen = (await (await admin('test/api-keys', { key: member })).json()) as {
      data: KeyJson[];
    };
    expect(seen.data).toHaveLength(1);
    const viewer = (await gateway.services.keys.create('test', { name: 'v', role: 'viewer' }))
      .secret;
    expect((await admin('test/audit-logs', { key: viewer })).status).toBe(403);
  });

  it("lets a member manage its own user's keys, never wider ones, never others'", async () => {
    const users = gateway.services.users;
    const alice = await users.create('test', {
      email: 'alice@own.test',
      name: 'A',
      role: 'member',
    });
    const bob = await users.create('test', { email: 'bob@own.test', name: 'B', role: 'member' });
    const own = await gateway.services.keys.create('test', {
      name: 'alice',
      role: 'member',
      userId: alice.id,
      allowedModels: ['gpt-test'],
    });
    const bobs = await gateway.services.keys.create('test', {
      name: 'bob',
      role: 'member',
      userId: bob.id,
    });
    const post = (body: unknown) =>
      admin('test/api-keys', { method: 'POST', key: own.secret, body: JSON.stringify(body) });

    const made = await post({ name: 'laptop' });
    expect(made.status).toBe(201);
    const laptop = (await made.json()) as KeyJson & { user_id: string; allowed_models: string[] };
    expect([laptop.role, laptop.user_id, laptop.allowed_models]).toEqual([
      'member',
      alice.id,
      ['gpt-test'],
    ]);
    for (const [body, param] of [
      [{ name: 'x', user_id: bob.id }, 'user_id'],
      [{ name: 'x', role: 'admin' }, 'role'],
      [{ name: 'x', allowed_models: ['gpt-test', 'embed-test'] }, 'allowed_models'],
      [{ name: 'x', allowed_models: null }, 'allowed_models'],
    ] as const) {
      const refused = await post(body);
      expect([
        refused.status,
        ((await refused.json()) as { error: { param: string } }).error.param,
      ]).toEqual([403, param]);
    }

    // No body at all: the default grace period.
    const rotated = await admin(`test/api-keys/${laptop.id}/rotate`, {
      method: 'POST',
      key: own.secret,
    });
    expect(rotated.status).toBe(200);
    for (const [path, method] of [
      [`test/api-keys/${bobs.key.id}`, 'GET'],
      [`test/api-keys/${bobs.key.id}/rotate`, 'POST'],
      [`test/api-keys/${bobs.key.id}`, 'DELETE'],
    ] as const) {
      const body = method === 'POST' ? '{}' : undefined;
      const response = await admin(path, { method, key: own.secret, body });
      expect(response.status, `${method} ${path}`).toBe(404);
    }
    expect((await gateway.services.keys.get('test', bobs.key.id)).revokedAt).toBeNull();
    const revoked = await admin(`test/api-keys/${laptop.id}`, {
      method: 'DELETE',
      key: own.secret,
    });
    expect(revoked.status).toBe(200);
  });

  it('lets nobody hand out a key wider than their role or its user', async () => {
    const adminKey = (await gateway.services.keys.create('test', { name: 'adm', role: 'admin' }))
      .secret;
    const asAdmin = (body: unknown) =>
      admin('test/api-keys', { method: 'POST', key: adminKey, body: JSON.stringify(body) });
    const owner = await asAdmin({ name: 'x', role: 'owner' });
    expect([
      owner.status,
      ((await owner.json()) as { error: { param: string } }).error.param,
    ]).toEqual([403, 'role']);
    expect((await asAdmin({ name: 'x', role: 'admin' })).status).toBe(201);

    const viewer = await gateway.services.users.create('test', {
      email: 'viewer@own.test',
      name: 'V',
      role: 'viewer',
    });
    const wider = await admin('test/api-keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'x', role: 'member', user_id: viewer.id }),
    });
    expect(wider.status).toBe(400);
    expect(await wider.json()).toMatchObject({ error: { code: 'invalid_request', param: 'role' } });
    const ghost = await admin('test/api-keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'x', user_id: 'usr_nobody' }),
    });
    expect(ghost.status).toBe(404);
    expect(await ghost.json()).toMatchObject({
      error: { code: 'user_not_found', param: 'user_id' },
    });
  });

  it('needs a key, and refuses bad bodies with 400 and a param', async () => {
    expect((await admin('test/api-keys', { headers: { authorization: '' } })).status).toBe(401);
    for (const body of [
      {},
      { name: 'x', role: 'god' },
      { name: 'x', colour: 'red' },
      { name: 'x', expires_at: 'soon' },
    ]) {
      const response = await admin('test/api-keys', { method: 'POST', body: JSON.stringify(body) });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    }
    const negative = await admin('test/api-keys/key_x/rotate', {
      method: 'POST',
      body: JSON.stringify({ grace_seconds: -1 }),
    });
    expect(negative.status).toBe(400);
  });
});

describe('/admin/v1/tenants/{tenant}/audit-logs', () => {
  it('shows who changed which key, from where', async () => {
    await admin('test/api-keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'audited' }),
      headers: { 'user-agent': 'audit-test/1.0' },
    });
    const { data } = (await (await admin('test/audit-logs?limit=5')).json()) as {
      data: Record<string, unknown>[];
    };
    expect(data[0]).toMatchObject({
      object: 'audit_log',
      action: 'api_key.create',
      actor_type: 'key',
      actor_id: expect.stringMatching(/^key_/),
      user_agent: 'audit-test/1.0',
      request_id: expect.stringMatching(/^req_/),
      after: expect.objectContaining({ name: 'audited' }),
    });
    expect(data.length).toBeLessThanOrEqual(5);
    expect((await admin('test/audit-logs?limit=0')).status).toBe(400);
    expect((await admin('test/audit-logs?limit=lots')).status).toBe(400);
  });
});
