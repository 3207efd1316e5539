import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { createServerRole, ownerOf, type ServerRole } from '../helpers/server-role.js';
import { TEST_DATABASE_URL } from '../helpers/services.js';
import type { TestServices } from '../helpers/tenant-services.js';

interface TenantJson {
  slug: string;
  server: string | null;
}

/**
 * A gateway whose config file names servers as an operator's would: the control plane's
 * own with a "replica" (the same server, told apart by its application_name), and `eu-1`
 * (the same server as another role).
 */
describe('tenants on configured database servers, over the admin API', () => {
  const replicaName = `llmb_replica_${randomBytes(4).toString('hex')}`;
  let role: ServerRole;
  let gateway: TestGateway;

  beforeAll(async () => {
    role = await createServerRole();
    const replicaUrl = new URL(TEST_DATABASE_URL);
    replicaUrl.searchParams.set('application_name', replicaName);
    gateway = await startGateway(
      {
        providers: { mock: { type: 'mock' } },
        models: [{ name: 'mock-chat', provider: 'mock' }],
        database_servers: {
          default: { replica_url_env: 'TEST_REPLICA_URL' },
          'eu-1': { url_env: 'TEST_EU1_URL' },
        },
      },
      {
        DATABASE_URL: TEST_DATABASE_URL,
        TEST_REPLICA_URL: replicaUrl.toString(),
        TEST_EU1_URL: role.url,
      },
    );
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await role?.drop();
  }, 60_000);

  const asAdmin = (path: string, init: RequestInit = {}) =>
    gateway.fetch(`/admin/v1${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${gateway.adminKey}`,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
    });

  /**
   * The databases the replica's tenant connections are on, as the server sees them. The lag
   * check's own connection sits on the replica URL's database, which holds no tenant.
   */
  async function replicaConnections(): Promise<string[]> {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ datname: string }>(
        'select datname from pg_stat_activity where application_name = $1 and datname <> $2',
        [replicaName, new URL(TEST_DATABASE_URL).pathname.slice(1) || 'postgres'],
      );
      return rows.map((row) => row.datname);
    } finally {
      await client.end();
    }
  }

  it('lists the audit log from the replica; keys and auth stay on the primary', async () => {
    const created = await asAdmin('/tenants/test/api-keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'ci', role: 'member' }),
    });
    expect(created.status).toBe(201);
    const { secret } = (await created.json()) as { secret: string };
    const completion = await gateway.fetch('/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(completion.status).toBe(200);
    expect(await replicaConnections()).toEqual([]);

    const listed = await asAdmin('/tenants/test/audit-logs');
    expect(listed.status).toBe(200);
    const page = (await listed.json()) as { data: { action: string }[] };
    expect(page.data.map((entry) => entry.action)).toContain('api_key.create');
    const tenant = await gateway.services.tenants.get('test');
    const databases = await replicaConnections();
    expect(databases.length).toBeGreaterThan(0);
    expect(new Set(databases)).toEqual(new Set([tenant.databaseName]));
  }, 60_000);

  it('creates a tenant on the server named, and shows each tenant server', async () => {
    const created = await asAdmin('/tenants', {
      method: 'POST',
      body: JSON.stringify({ slug: 'eu', name: 'EU', server: 'eu-1' }),
    });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ object: 'tenant', slug: 'eu', server: 'eu-1' });
    const tenant = await gateway.services.tenants.get('eu');
    expect(await ownerOf(tenant.databaseName)).toBe(role.name);
    const listed = (await (await asAdmin('/tenants')).json()) as { data: TenantJson[] };
    expect(listed.data.map(({ slug, server }) => ({ slug, server }))).toEqual(
      expect.arrayContaining([
        { slug: 'test', server: null },
        { slug: 'eu', server: 'eu-1' },
      ]),
    );
    expect(await (await asAdmin('/tenants/eu')).json()).toMatchObject({ server: 'eu-1' });
  }, 60_000);

  it('refuses an unknown server with 400 on `server`, creating nothing', async () => {
    const before = await gateway.services.tenants.list();
    for (const server of ['us-9', 'Not A Name']) {
      const refused = await asAdmin('/tenants', {
        method: 'POST',
        body: JSON.stringify({ slug: 'nowhere', name: 'Nowhere', server }),
      });
      expect(refused.status, server).toBe(400);
      const { error } = (await refused.json()) as { error: { code: string; param: string } };
      expect(error.code).toBe('invalid_request');
      if (server === 'us-9') expect(error.param).toBe('server');
    }
    expect(await gateway.services.tenants.list()).toEqual(before);
    const control = (gateway.services as TestServices).backend.control;
    const audit = await control
      .selectFrom('platform_audit_log')
      .select('after')
      .where('action', '=', 'tenant.create')
      .execute();
    expect(JSON.stringify(audit)).not.toContain('nowhere');
  }, 60_000);
});
