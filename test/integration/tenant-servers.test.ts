import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMigrate, runTenantCommand } from '../../src/cli/tenant-commands.js';
import { readEnv } from '../../src/config/env.js';
import type { TenantService } from '../../src/services/tenancy/tenant-service.js';
import { migrateToLatest } from '../../src/storage/migrations/index.js';
import { openStorage } from '../../src/storage/open.js';
import { createBackend } from '../helpers/databases.js';
import { createServerRole, ownerOf, type ServerRole } from '../helpers/server-role.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

async function currentUser(db: Kysely<unknown>): Promise<string | undefined> {
  const { rows } = await sql<{ name: string }>`select current_user as name`.execute(db);
  return rows[0]?.name;
}

describe('tenant databases on two servers', () => {
  let role: ServerRole;
  let services: TestServices;
  let tenants: TenantService;
  let controlRole: string | undefined;

  beforeAll(async () => {
    role = await createServerRole();
    services = await servicesOn('postgres', {
      servers: [{ name: 'eu-1', url: role.url, replicaUrl: null }],
    });
    tenants = services.tenants;
    controlRole = await currentUser(services.backend.control as Kysely<unknown>);
  }, 60_000);
  afterAll(async () => {
    await services?.close();
    await role?.drop();
  }, 60_000);

  it("provisions each tenant on its own server, as that server's role", async () => {
    const eu = await tenants.create({ slug: 'eu', name: 'EU', server: 'eu-1' });
    const home = await tenants.create({ slug: 'home', name: 'Home' });
    expect(eu).toMatchObject({ server: 'eu-1', status: 'active' });
    expect(home.server).toBeNull();
    expect(await ownerOf(eu.databaseName)).toBe(role.name);
    expect(await ownerOf(home.databaseName)).toBe(controlRole);
    const registry = await services.backend.control
      .selectFrom('tenants')
      .select(['slug', 'server'])
      .orderBy('slug')
      .execute();
    expect(registry).toEqual([
      { slug: 'eu', server: 'eu-1' },
      { slug: 'home', server: null },
    ]);
    // The pools connect as each server's role, so reads and writes land on that server.
    expect(await currentUser(tenants.database(eu) as Kysely<unknown>)).toBe(role.name);
    expect(await currentUser(tenants.database(home) as Kysely<unknown>)).toBe(controlRole);
    // Naming the default server is the same as naming none.
    const again = await tenants.create({ slug: 'home-2', name: 'Home 2', server: 'default' });
    expect(again.server).toBeNull();
  }, 60_000);

  it("reaches a tenant's rows on its server through the services", async () => {
    const user = await services.users.create('eu', {
      email: 'eve@eu.test',
      name: 'Eve',
      role: 'owner',
    });
    const { secret } = await services.keys.create('eu', {
      name: 'ci',
      role: 'owner',
      userId: user.id,
    });
    expect(await services.keys.resolve(secret)).toMatchObject({ userId: user.id });
    expect((await services.users.list('eu')).map((u) => u.email)).toEqual(['eve@eu.test']);
    expect(await services.users.list('home')).toEqual([]);
  }, 60_000);

  it('refuses an unknown server and creates nothing', async () => {
    const before = await tenants.list();
    await expect(
      tenants.create({ slug: 'nowhere', name: 'Nowhere', server: 'us-9' }),
    ).rejects.toMatchObject({ code: 'invalid_request', status: 400, param: 'server' });
    expect(await tenants.list()).toEqual(before);
  });

  it('resumes a provisioning on the server it began on, and only there', async () => {
    const id = 'tnt_resumeeu000000000000001';
    await services.backend.control
      .insertInto('tenants')
      .values({
        id,
        slug: 'resumed',
        name: 'Resumed',
        database_name: `${services.backend.server.controlDatabase}_${id}`,
        server: 'eu-1',
        delete_after: null,
      })
      .execute();
    await expect(tenants.create({ slug: 'resumed', name: 'Resumed' })).rejects.toMatchObject({
      code: 'invalid_request',
      param: 'server',
    });
    const resumed = await tenants.create({ slug: 'resumed', name: 'Resumed', server: 'eu-1' });
    expect(resumed).toMatchObject({ id, status: 'active', server: 'eu-1' });
    expect(await ownerOf(resumed.databaseName)).toBe(role.name);
  }, 60_000);

  it('creates a tenant on a server from the command line, and shows it', async () => {
    const lines: string[] = [];
    const run = async (...args: string[]) => {
      lines.length = 0;
      await runTenantCommand(args, tenants, { line: (text) => lines.push(text) });
      return lines.join('\n');
    };
    expect(await run('create', 'cli-eu', '--server', 'eu-1')).toMatch(
      /^tnt_[0-9a-z]+ {2}cli-eu {2}active {2}cli-eu {2}server eu-1$/,
    );
    expect(JSON.parse(await run('get', 'cli-eu', '--json'))).toMatchObject({ server: 'eu-1' });
    expect(JSON.parse(await run('get', 'home', '--json'))).toMatchObject({ server: null });
    const listed = JSON.parse(await run('list', '--json')) as { slug: string; server: string }[];
    expect(listed.find((tenant) => tenant.slug === 'cli-eu')?.server).toBe('eu-1');
    await expect(run('create', 'cli-nowhere', '--server', 'us-9')).rejects.toMatchObject({
      code: 'invalid_request',
      param: 'server',
    });
    expect(await ownerOf((await tenants.get('cli-eu')).databaseName)).toBe(role.name);
  }, 60_000);

  it('migrates the tenants of every server', async () => {
    const progress: string[] = [];
    await tenants.migrateAll((done, total, tenant) =>
      progress.push(`${done}/${total} ${tenant.slug}`),
    );
    expect(progress.map((line) => line.split(' ')[1]).sort()).toEqual([
      'cli-eu',
      'eu',
      'home',
      'home-2',
      'resumed',
    ]);
    for (const tenant of await tenants.list()) {
      expect(await migrateToLatest(tenants.database(tenant) as Kysely<unknown>, 'tenant')).toEqual(
        [],
      );
    }
  }, 60_000);

  it('migrates several tenants at once with --concurrency, counting each once', async () => {
    const lines: string[] = [];
    await runMigrate(tenants, { line: (text) => lines.push(text) }, 3);
    const total = (await tenants.list()).length;
    expect(lines[0]).toBe('control plane: up to date');
    expect(lines.slice(1).map((line) => line.split(' ')[1])).toEqual(
      Array.from({ length: total }, (_, i) => `${i + 1}/${total}`),
    );
    expect(new Set(lines.slice(1).map((line) => line.split(' ')[2])).size).toBe(total);
  }, 60_000);

  it('drops each purged tenant on its own server, leaving the others', async () => {
    const { servers } = services.connections;
    const eu = await tenants.get('eu');
    const home = await tenants.get('home');
    await tenants.delete('eu');
    expect(await tenants.purge()).toEqual({ purged: [eu.id], failed: [] });
    expect(await servers.primary('eu-1').exists(eu.databaseName)).toBe(false);
    expect(await ownerOf(eu.databaseName)).toBeNull();
    expect(await ownerOf(home.databaseName)).toBe(controlRole);
    expect(await services.users.list('home')).toEqual([]);

    await tenants.delete('home');
    expect(await tenants.purge()).toEqual({ purged: [home.id], failed: [] });
    expect(await ownerOf(home.databaseName)).toBeNull();
    const resumed = await tenants.get('resumed');
    expect(await ownerOf(resumed.databaseName)).toBe(role.name);
  }, 60_000);
});

describe('openStorage with database_servers', () => {
  it('opens each configured server next to the control plane, and closes them', async () => {
    const role = await createServerRole();
    const backend = await createBackend('postgres');
    try {
      const env = readEnv({ DATABASE_URL: backend.url ?? '' }, []);
      const storage = await openStorage(env, {
        databaseServers: [
          { name: 'default', url: null, replicaUrl: backend.url },
          { name: 'eu-1', url: role.url, replicaUrl: null },
        ],
      });
      try {
        expect(storage.servers.names()).toEqual(['default', 'eu-1']);
        expect(storage.servers.primary(null)).toBe(storage.server);
        expect(storage.servers.replica(null)).not.toBeNull();
        const name = `${storage.server.controlDatabase}_on_eu1`;
        await storage.servers.primary('eu-1').create(name);
        expect(await ownerOf(name)).toBe(role.name);
        await storage.servers.primary('eu-1').drop(name);
      } finally {
        await storage.close();
      }
    } finally {
      await backend.destroy();
      await role.drop();
    }
  }, 60_000);

  it('refuses servers over the embedded databases', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'llm-backend-servers-'));
    try {
      const env = readEnv({ DATA_DIR: dataDir }, []);
      await expect(
        openStorage(env, {
          databaseServers: [{ name: 'eu-1', url: 'postgres://127.0.0.1/x', replicaUrl: null }],
        }),
      ).rejects.toThrow(/DATABASE_URL/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
