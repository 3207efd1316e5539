import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TenantService } from '../../src/services/tenancy/tenant-service.js';
import { isDatabaseName, tenantDatabaseName } from '../../src/storage/database-server.js';
import { DatabaseServers } from '../../src/storage/database-servers.js';
import { MIGRATION_NAMES, migrateToLatest } from '../../src/storage/migrations/index.js';
import { TenantConnections, type TenantDatabase } from '../../src/storage/tenant-connections.js';
import { newId } from '../../src/utils/ids.js';
import { BACKENDS, createBackend, type TestBackend } from '../helpers/databases.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

const GRACE_MS = 60_000;

/** The same cases on the PostgreSQL server and on embedded PGlite: they must not drift. */
describe.each(BACKENDS)('tenant databases on %s', (kind) => {
  let services: TestServices;
  let backend: TestBackend;
  let tenants: TenantService;

  beforeAll(async () => {
    services = await servicesOn(kind, { deletionGraceMs: GRACE_MS });
    ({ backend, tenants } = services);
  }, 60_000);
  afterAll(() => services?.close(), 60_000);

  async function userCount(db: Kysely<unknown>): Promise<number> {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from users`.execute(db);
    return rows[0]?.n ?? -1;
  }

  it('provisions each tenant in its own migrated database; rows stay in their own', async () => {
    const a = await tenants.create({ slug: 'acme', name: 'Acme' });
    const b = await tenants.create({ slug: 'globex', name: 'Globex' });
    expect(a.status).toBe('active');
    expect(a.id).toMatch(/^tnt_[0-9a-z]+$/);
    expect(a.databaseName).not.toBe(b.databaseName);
    expect(await backend.server.exists(a.databaseName)).toBe(true);
    expect(await backend.server.exists(b.databaseName)).toBe(true);

    await tenants
      .database(a)
      .insertInto('users')
      .values({ id: 'usr_1', email: 'ann@acme.test', name: 'Ann', role: 'owner' })
      .execute();
    expect(await userCount(tenants.database(a) as Kysely<unknown>)).toBe(1);
    expect(await userCount(tenants.database(b) as Kysely<unknown>)).toBe(0);
    expect((await tenants.list()).map((t) => t.slug)).toEqual(['acme', 'globex']);
  }, 60_000);

  it('refuses a second tenant with the same slug, and finds tenants by id or slug', async () => {
    await expect(tenants.create({ slug: 'acme', name: 'Again' })).rejects.toMatchObject({
      code: 'tenant_exists',
      status: 409,
    });
    const bySlug = await tenants.get('acme');
    expect((await tenants.get(bySlug.id)).slug).toBe('acme');
    await expect(tenants.get('nobody')).rejects.toMatchObject({ code: 'tenant_not_found' });
  });

  it('runs migrations twice as a no-op, and for every tenant with progress', async () => {
    const acme = await tenants.get('acme');
    expect(await migrateToLatest(tenants.database(acme) as Kysely<unknown>, 'tenant')).toEqual([]);
    expect(await migrateToLatest(backend.control as Kysely<unknown>, 'control')).toEqual([]);
    const progress: string[] = [];
    await tenants.migrateAll((done, total, tenant) =>
      progress.push(`${done}/${total} ${tenant.slug}`),
    );
    expect(progress).toEqual(['1/2 acme', '2/2 globex']);
  }, 60_000);

  it('resumes a provisioning that failed before the database existed', async () => {
    await backend.control
      .insertInto('tenants')
      .values({
        id: 'tnt_resume0000000000000001',
        slug: 'initech',
        name: 'Initech',
        database_name: `${backend.server.controlDatabase}_tnt_resume0000000000000001`,
        server: null,
        delete_after: null,
      })
      .execute();
    const resumed = await tenants.create({ slug: 'initech', name: 'Initech' });
    expect(resumed).toMatchObject({ id: 'tnt_resume0000000000000001', status: 'active' });
    expect(await userCount(tenants.database(resumed) as Kysely<unknown>)).toBe(0);
  }, 60_000);

  it('deletes after the grace period, leaving the other tenants untouched', async () => {
    const acme = await tenants.get('acme');
    const globex = await tenants.get('globex');
    await tenants
      .database(globex)
      .insertInto('users')
      .values({ id: 'usr_2', email: 'gil@globex.test', name: 'Gil', role: 'admin' })
      .execute();
    const now = new Date();
    const deleted = await tenants.delete('acme', now);
    expect(deleted.status).toBe('deleting');
    expect(await tenants.purge(now)).toEqual({ purged: [], failed: [] });
    expect(await backend.server.exists(acme.databaseName)).toBe(true);

    expect(await tenants.purge(new Date(now.getTime() + GRACE_MS))).toEqual({
      purged: [acme.id],
      failed: [],
    });
    expect(await backend.server.exists(acme.databaseName)).toBe(false);
    await expect(tenants.get('acme')).rejects.toMatchObject({ code: 'tenant_not_found' });
    expect(await backend.server.exists(globex.databaseName)).toBe(true);
    expect(await userCount(tenants.database(globex) as Kysely<unknown>)).toBe(1);
  }, 60_000);

  it('disables and enables a tenant', async () => {
    expect((await tenants.setStatus('globex', 'disabled')).status).toBe('disabled');
    expect((await tenants.setStatus('globex', 'active')).status).toBe('active');
  });
});

describe.each(BACKENDS)('a provisioning that fails mid-way on %s', (kind) => {
  let services: TestServices;

  beforeAll(async () => {
    services = await servicesOn(kind);
  }, 60_000);
  afterAll(() => services?.close(), 60_000);
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('is completed by the same create call, before or after its database exists', async () => {
    const { tenants, backend } = services;
    const server = backend.server;
    const create = server.create.bind(server);
    vi.spyOn(server, 'create').mockRejectedValueOnce(new Error('server went away'));
    await expect(tenants.create({ slug: 'umbrella', name: 'Umbrella' })).rejects.toThrow(
      'server went away',
    );
    expect((await tenants.get('umbrella')).status).toBe('provisioning');
    const first = await tenants.create({ slug: 'umbrella', name: 'Umbrella Corp' });
    expect(first).toMatchObject({ status: 'active', name: 'Umbrella Corp' });

    // Created, then lost before the migrations ran: the retry finds it there.
    vi.spyOn(server, 'create').mockImplementationOnce(async (name) => {
      await create(name);
      throw new Error('connection reset');
    });
    await expect(tenants.create({ slug: 'cyberdyne', name: 'Cyberdyne' })).rejects.toThrow(
      'connection reset',
    );
    const second = await tenants.create({ slug: 'cyberdyne', name: 'Cyberdyne' });
    expect(second.status).toBe('active');
    expect(await server.exists(second.databaseName)).toBe(true);
  }, 60_000);
});

/**
 * The control database is named by the operator: whatever its name, tenant databases get
 * valid ones, distinct from those of another control plane on the same server.
 */
describe('tenant database names on postgres', () => {
  const suffix = () => randomBytes(4).toString('hex');

  async function createTenantOn(databaseName: string) {
    const backend = await createBackend('postgres', { databaseName });
    const services = await servicesOn('postgres', { backend });
    try {
      const tenant = await services.tenants.create({ slug: 'acme', name: 'Acme' });
      expect(tenant.status).toBe('active');
      expect(tenant.databaseName).toMatch(/^[a-z][a-z0-9_]{0,62}$/);
      expect(await backend.server.exists(tenant.databaseName)).toBe(true);
      return tenant.databaseName;
    } finally {
      await services.close();
      await backend.destroy();
    }
  }

  it('are valid for a control database named with capitals', async () => {
    const name = await createTenantOn(`LLM_Backend_${suffix()}`);
    expect(name).toMatch(/^llm_backend_[0-9a-f]{8}_[0-9a-f]{8}_tnt_/);
  }, 60_000);

  it('are valid for a control database of 60 characters', async () => {
    const control = `llmb_test_${suffix()}_${'x'.repeat(41)}`;
    expect(control).toHaveLength(60);
    expect(await createTenantOn(control)).toHaveLength(63);
  }, 60_000);

  it('keep apart control planes whose names differ only in case or past the cut', () => {
    const id = newId('tnt');
    const names = [
      'llm_backend',
      'LLM_Backend',
      'Llm_Backend',
      `${'a'.repeat(50)}1`,
      `${'a'.repeat(50)}2`,
    ];
    const derived = names.map((control) => tenantDatabaseName(control, id));
    expect(new Set(derived).size).toBe(names.length);
    expect(tenantDatabaseName('llm_backend', id)).toBe(`llm_backend_${id}`);
    for (const name of derived) expect(isDatabaseName(name)).toBe(true);
    expect(isDatabaseName(tenantDatabaseName('9-Ünïcode db', id))).toBe(true);
  });

  it('resumes a tenant left provisioning under a name PostgreSQL refused', async () => {
    const backend = await createBackend('postgres', { databaseName: `LLM_Backend_${suffix()}` });
    const services = await servicesOn('postgres', { backend });
    try {
      const id = newId('tnt');
      await backend.control
        .insertInto('tenants')
        .values({
          id,
          slug: 'stuck',
          name: 'Stuck',
          database_name: `${backend.server.controlDatabase}_${id}`,
          server: null,
          delete_after: null,
        })
        .execute();
      const resumed = await services.tenants.create({ slug: 'stuck', name: 'Stuck' });
      expect(resumed).toMatchObject({ id, status: 'active' });
      expect(isDatabaseName(resumed.databaseName)).toBe(true);
    } finally {
      await services.close();
      await backend.destroy();
    }
  }, 60_000);
});

describe('tenant databases on postgres, concurrently', () => {
  it('two instances migrating one database at once apply each migration once', async () => {
    const backend = await createBackend('postgres');
    try {
      await backend.server.create(`${backend.server.controlDatabase}_race`);
      const first = backend.server.open(`${backend.server.controlDatabase}_race`);
      const second = backend.server.open(`${backend.server.controlDatabase}_race`);
      const [a, b] = await Promise.all([
        migrateToLatest(first as Kysely<unknown>, 'tenant'),
        migrateToLatest(second as Kysely<unknown>, 'tenant'),
      ]);
      expect([...a, ...b]).toEqual(MIGRATION_NAMES.tenant);
      const { rows } = await sql<{
        n: number;
      }>`select count(*)::int as n from schema_migrations`.execute(first);
      expect(rows[0]?.n).toBe(MIGRATION_NAMES.tenant.length);
      await Promise.all([first.destroy(), second.destroy()]);
    } finally {
      await backend.destroy();
    }
  }, 60_000);
});

describe('tenant connection pools', () => {
  it('keeps at most maxOpen pools, closing the least recently used', async () => {
    const backend = await createBackend('postgres');
    // The same server as its own replica: enough to tell the two kinds of pool apart.
    const servers = DatabaseServers.of(backend.server, [
      { name: 'default', url: null, replicaUrl: backend.url },
    ]);
    // The replica is read from once its lag is known.
    await servers.ready();
    const connections = new TenantConnections(servers, {
      maxOpen: 2,
      maxConnectionsPerTenant: 1,
    });
    try {
      const [a, b, c] = ['a', 'b', 'c'].map((suffix) => ({
        server: null,
        databaseName: `${backend.server.controlDatabase}_${suffix}`,
      })) as [TenantDatabase, TenantDatabase, TenantDatabase];
      for (const target of [a, b, c]) await backend.server.create(target.databaseName);
      const first = connections.get(a);
      connections.get(b);
      expect(connections.get(a)).toBe(first);
      connections.get(c);
      expect(connections.size).toBe(2);
      // b was the least recently used: a new handle now; a is still the same one.
      expect(connections.get(a)).toBe(first);
      await sql`select 1`.execute(connections.get(b));
      // A replica pool is an entry of its own under the same cap.
      const replica = connections.read(a);
      expect(replica).not.toBe(connections.get(a));
      expect(connections.size).toBe(2);
      await connections.release(a);
      expect(connections.size).toBe(0);
    } finally {
      await connections.close();
      await servers.close();
      await backend.destroy();
    }
  }, 60_000);
});
