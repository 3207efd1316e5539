import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { useUpstreamGateway } from '../helpers/gateway.js';

const { gateway } = useUpstreamGateway();
let adminKey: string;

beforeAll(async () => {
  adminKey = (await gateway.services.keys.create('test', { name: 'admin', role: 'admin' })).secret;
  await gateway.services.tenants.create({ slug: 'elsewhere', name: 'Elsewhere' });
}, 30_000);

const users = (path: string, init: RequestInit & { key?: string; json?: unknown } = {}) => {
  const headers = new Headers(init.headers);
  if (init.json !== undefined) headers.set('content-type', 'application/json');
  if (init.key !== undefined) headers.set('authorization', `Bearer ${init.key}`);
  const body = init.json === undefined ? undefined : JSON.stringify(init.json);
  return gateway.fetch(`/admin/v1/tenants/${path}`, { ...init, headers, body });
};

describe('/admin/v1/tenants/{tenant}/users', () => {
  it('adds, lists, renames, disables and enables users; a disabled user’s keys get 403', async () => {
    const created = await users('test/users', {
      method: 'POST',
      json: { email: ' Ann@Example.com ', name: 'Ann', role: 'member' },
    });
    expect(created.status).toBe(201);
    const ann = (await created.json()) as { id: string; email: string };
    expect(ann.email).toBe('ann@example.com');
    const listed = (await (await users('test/users')).json()) as { data: { id: string }[] };
    expect(listed.data.map((u) => u.id)).toContain(ann.id);
    const renamed = await users(`test/users/${ann.id}`, {
      method: 'PATCH',
      json: { name: 'Ann B.' },
    });
    expect(await renamed.json()).toMatchObject({ name: 'Ann B.', status: 'active' });

    const { secret } = await gateway.services.keys.create('test', {
      name: 'ann',
      role: 'member',
      userId: ann.id,
    });
    const client = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    expect((await client.models.list()).data.length).toBeGreaterThan(0);
    await users(`test/users/${ann.id}`, { method: 'PATCH', json: { status: 'disabled' } });
    await expect(client.models.list()).rejects.toMatchObject({
      status: 403,
      code: 'user_disabled',
    });
    await users(`test/users/${ann.id}`, { method: 'PATCH', json: { status: 'active' } });
    expect((await client.models.list()).data.length).toBeGreaterThan(0);

    const audit = (await (await users('test/audit-logs?limit=10')).json()) as {
      data: { action: string }[];
    };
    expect(audit.data.map((e) => e.action)).toEqual(
      expect.arrayContaining(['user.create', 'user.update', 'user.disable', 'user.enable']),
    );
  });

  it('keeps roles in order: only owners make or change owners; members add nobody', async () => {
    const asAdmin = await users('test/users', {
      method: 'POST',
      key: adminKey,
      json: { email: 'o@x.io', name: 'O', role: 'owner' },
    });
    expect(asAdmin.status).toBe(403);
    expect(await asAdmin.json()).toMatchObject({
      error: { code: 'permission_denied', param: 'role' },
    });
    const owner = (await (
      await users('test/users', {
        method: 'POST',
        json: { email: 'own@x.io', name: 'Own', role: 'owner' },
      })
    ).json()) as { id: string };
    const demote = await users(`test/users/${owner.id}`, {
      method: 'PATCH',
      key: adminKey,
      json: { role: 'member' },
    });
    expect(demote.status).toBe(403);
    const member = (await gateway.services.keys.create('test', { name: 'm', role: 'member' }))
      .secret;
    expect(
      (
        await users('test/users', {
          method: 'POST',
          key: member,
          json: { email: 'm@x.io', name: 'M', role: 'viewer' },
        })
      ).status,
    ).toBe(403);
    expect((await users('test/users', { key: member })).status).toBe(403);
  });

  it("refuses another tenant's users and bad input", async () => {
    expect((await users('elsewhere/users')).status).toBe(403);
    expect(
      (
        await users('elsewhere/users', {
          method: 'POST',
          json: { email: 'x@y.io', name: 'X', role: 'member' },
        })
      ).status,
    ).toBe(403);
    expect(await gateway.services.users.list('elsewhere')).toEqual([]);
    const dup = await users('test/users', {
      method: 'POST',
      json: { email: 'ANN@example.com', name: 'Again', role: 'member' },
    });
    expect(dup.status).toBe(409);
    for (const json of [
      { email: 'not-an-email', name: 'X', role: 'member' },
      { email: 'a@b.io', name: 'X', role: 'god' },
      { email: 'a@b.io' },
    ]) {
      const response = await users('test/users', { method: 'POST', json });
      expect(response.status).toBe(400);
    }
    expect((await users('test/users/usr_nope', { method: 'PATCH', json: {} })).status).toBe(400);
    expect((await users('test/users/usr_nope')).status).toBe(404);
  });
});
