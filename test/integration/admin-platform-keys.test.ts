import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { useUpstreamGateway } from '../helpers/gateway.js';
import type { TestServices } from '../helpers/tenant-services.js';

const { gateway } = useUpstreamGateway();
let tenantKey: string;
let adminKeyId: string;

interface PlatformKeyJson {
  id: string;
  name: string;
  secret?: string;
  revoked_at: string | null;
}

const call = (path: string, key: string, init: RequestInit = {}) => {
  const headers = new Headers(init.headers);
  if (init.body !== undefined) headers.set('content-type', 'application/json');
  headers.set('authorization', `Bearer ${key}`);
  return gateway.fetch(`/admin/v1${path}`, { ...init, headers });
};
const asAdmin = (path: string, init: RequestInit = {}) => call(path, gateway.adminKey, init);
const create = async (name: string, key = gateway.adminKey) => {
  const response = await call('/platform-keys', key, {
    method: 'POST',
    body: JSON.stringify({ name }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as PlatformKeyJson;
};

beforeAll(async () => {
  tenantKey = gateway.apiKey;
  const keys = await gateway.services.platformKeys.list();
  adminKeyId = keys.find((key) => key.name === 'test-admin')?.id as string;
}, 30_000);

describe('/admin/v1/platform-keys', () => {
  it('lets a platform admin create, list, rotate and revoke keys, audited as itself', async () => {
    const key = await create('ops-oncall');
    expect(key.secret).toMatch(/^llmb_/);
    expect((await call('/tenants', key.secret as string)).status).toBe(200);

    const listed = (await (await asAdmin('/platform-keys')).json()) as {
      data: PlatformKeyJson[];
    };
    expect(listed.data.map((k) => k.id)).toContain(key.id);
    expect(JSON.stringify(listed)).not.toContain(key.secret);

    const rotation = await asAdmin(`/platform-keys/${key.id}/rotate`, {
      method: 'POST',
      body: JSON.stringify({ grace_seconds: 0 }),
    });
    expect(rotation.status).toBe(200);
    const rotated = (await rotation.json()) as PlatformKeyJson;
    expect(rotated.secret).toMatch(/^llmb_/);
    expect(rotated.secret).not.toBe(key.secret);
    expect((await call('/tenants', rotated.secret as string)).status).toBe(200);

    const revocation = await asAdmin(`/platform-keys/${key.id}`, { method: 'DELETE' });
    expect(revocation.status).toBe(200);
    expect(((await revocation.json()) as PlatformKeyJson).revoked_at).not.toBeNull();
    // Refused at once: the revocation reached the key cache, no waiting for it to expire.
    expect((await call('/tenants', rotated.secret as string)).status).toBe(401);

    const audit = await (gateway.services as TestServices).backend.control
      .selectFrom('platform_audit_log')
      .select(['action', 'actor_type', 'actor_id'])
      .where('target_id', '=', key.id)
      .orderBy('seq')
      .execute();
    expect(audit).toEqual(
      ['create', 'rotate', 'revoke'].map((action) => ({
        action: `platform_api_key.${action}`,
        actor_type: 'platform_key',
        actor_id: adminKeyId,
      })),
    );
    expect(JSON.stringify(audit)).not.toContain(rotated.secret);
  });

  it("refuses a tenant's key, even its owner's, and changes nothing", async () => {
    const before = await gateway.services.platformKeys.list();
    expect((await call('/platform-keys', tenantKey)).status).toBe(403);
    const made = await call('/platform-keys', tenantKey, {
      method: 'POST',
      body: JSON.stringify({ name: 'sneaky' }),
    });
    expect(made.status).toBe(403);
    expect(await made.json()).toMatchObject({ error: { code: 'permission_denied' } });
    expect(
      (await call(`/platform-keys/${adminKeyId}`, tenantKey, { method: 'DELETE' })).status,
    ).toBe(403);
    expect(await gateway.services.platformKeys.list()).toEqual(before);
  });

  it('refuses bad input and unknown keys', async () => {
    const before = (await gateway.services.platformKeys.list()).length;
    for (const body of [
      {},
      { name: '' },
      { name: 'x', role: 'owner' },
      { name: 'x', expires_at: 'soon' },
    ]) {
      const response = await asAdmin('/platform-keys', {
        method: 'POST',
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    }
    const grace = await asAdmin(`/platform-keys/${adminKeyId}/rotate`, {
      method: 'POST',
      body: JSON.stringify({ grace_seconds: -1 }),
    });
    expect(grace.status).toBe(400);
    expect((await gateway.services.platformKeys.list()).length).toBe(before);
    for (const [path, method] of [
      ['/platform-keys/key_nope/rotate', 'POST'],
      ['/platform-keys/key_nope', 'DELETE'],
    ] as const) {
      const response = await asAdmin(path, { method });
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({
        error: { code: 'key_not_found', param: 'key' },
      });
    }
  });

  it('refuses to revoke the last platform key that still works', async () => {
    const last = await create('last-one');
    const secret = last.secret as string;
    for (const key of await gateway.services.platformKeys.list())
      if (key.id !== last.id && key.revokedAt === null)
        await gateway.services.platformKeys.revoke(key.id);
    const response = await call(`/platform-keys/${last.id}`, secret, { method: 'DELETE' });
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({
      error: { code: 'last_platform_key', type: 'invalid_request_error', param: 'key' },
    });
    expect((await call('/tenants', secret)).status).toBe(200);
  });
});

describe('/admin/v1/tenants/{tenant}/audit-logs/verify', () => {
  it('answers intact, then names the first entry a tampered row breaks', async () => {
    const slug = `verify-${Date.now().toString(36)}`;
    const tenant = await gateway.services.tenants.create({ slug, name: 'Verify' });
    const { secret: owner } = await gateway.services.keys.create(slug, {
      name: 'owner',
      role: 'owner',
    });
    const { secret: member } = await gateway.services.keys.create(slug, {
      name: 'member',
      role: 'member',
    });
    // Its own platform key: the test above revoked the others.
    const { secret: platform } = await gateway.services.platformKeys.create({ name: 'verifier' });
    const verify = (key: string, ref = slug) =>
      call(`/tenants/${ref}/audit-logs/verify`, key, { method: 'POST' });

    const intact = await verify(owner);
    expect(intact.status).toBe(200);
    expect(await intact.json()).toEqual({ ok: true, entries: 2 });
    expect(await (await verify(platform)).json()).toEqual({ ok: true, entries: 2 });

    expect((await verify(member)).status).toBe(403);
    // Another tenant's log is refused to a tenant key, and an unknown tenant is a 404.
    expect((await verify(owner, 'test')).status).toBe(403);
    expect((await verify(platform, 'no-such-tenant')).status).toBe(404);

    const entries = await sql<{ id: string }>`select id from audit_log order by seq`.execute(
      gateway.services.tenants.database(tenant),
    );
    await sql`update audit_log set action = 'api_key.nothing' where id = ${entries.rows[1]?.id}`.execute(
      gateway.services.tenants.database(tenant),
    );
    expect(await (await verify(owner)).json()).toEqual({
      ok: false,
      index: 1,
      reason: 'hash_mismatch',
    });
  });
});
