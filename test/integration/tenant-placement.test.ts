import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTenantCommand } from '../../src/cli/tenant-commands.js';
import { tenantsPerServer } from '../../src/storage/repositories/server-occupancy.js';
import { BACKENDS } from '../helpers/databases.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { createServerRole, ownerOf, type ServerRole } from '../helpers/server-role.js';
import { TEST_DATABASE_URL } from '../helpers/services.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

/**
 * TENANT_PLACEMENT=most-room over three servers: the control plane's (room for 1) and two
 * more as other roles (room for 3 each), so where each database went shows in its owner.
 */
describe('placing new tenants on the server with the most room', () => {
  let roles: ServerRole[];
  let services: TestServices;

  beforeAll(async () => {
    roles = [await createServerRole(), await createServerRole()];
    const [eu1, eu2] = roles as [ServerRole, ServerRole];
    services = await servicesOn('postgres', {
      placement: 'most-room',
      servers: [
        { name: 'default', url: null, replicaUrl: null, maxTenants: 1 },
        { name: 'eu-2', url: eu2.url, replicaUrl: null, maxTenants: 3 },
        { name: 'eu-1', url: eu1.url, replicaUrl: null, maxTenants: 3 },
      ],
    });
  }, 180_000);
  afterAll(async () => {
    await services?.close();
    for (const role of roles ?? []) await role.drop();
  }, 180_000);

  it('fills the servers by room, ties by fewer tenants then name, and refuses when all are full', async () => {
    const placed: (string | null)[] = [];
    for (const slug of ['p-a', 'p-b', 'p-c', 'p-d', 'p-e', 'p-f']) {
      placed.push((await services.tenants.create({ slug, name: slug })).server);
    }
    // Room 3/3/1: eu-1 (name), eu-2 (room), eu-1 (name), eu-2 (room), then all at room 1:
    // the control plane's (fewest tenants), then eu-1 (name).
    expect(placed).toEqual(['eu-1', 'eu-2', 'eu-1', 'eu-2', null, 'eu-1']);
    const [eu1, eu2] = roles as [ServerRole, ServerRole];
    expect(await ownerOf((await services.tenants.get('p-a')).databaseName)).toBe(eu1.name);
    expect(await ownerOf((await services.tenants.get('p-b')).databaseName)).toBe(eu2.name);

    // The command line places the same way: eu-2 is the last with room.
    const lines: string[] = [];
    await runTenantCommand(['create', 'p-cli'], services.tenants, {
      line: (text) => lines.push(text),
    });
    expect(lines.join('\n')).toMatch(/server eu-2$/);

    const before = await services.tenants.list();
    await expect(services.tenants.create({ slug: 'p-full', name: 'Full' })).rejects.toMatchObject({
      code: 'database_servers_full',
      status: 503,
    });
    expect(await services.tenants.list()).toEqual(before);
    expect(Object.fromEntries(await tenantsPerServer(services.backend.control))).toEqual({
      default: 1,
      'eu-1': 3,
      'eu-2': 3,
    });
    // A server named explicitly is the operator's choice: its max_tenants does not apply.
    expect(
      (await services.tenants.create({ slug: 'p-named', name: 'N', server: 'eu-1' })).server,
    ).toBe('eu-1');
  }, 180_000);
});

/** Creates at the same moment: each choice counts the tenants chosen before it. */
describe('placing tenants created at the same moment', () => {
  let role: ServerRole;
  let services: TestServices;

  beforeAll(async () => {
    role = await createServerRole();
    services = await servicesOn('postgres', {
      placement: 'most-room',
      servers: [
        { name: 'default', url: null, replicaUrl: null, maxTenants: 1 },
        { name: 'eu-1', url: role.url, replicaUrl: null, maxTenants: 2 },
      ],
    });
  }, 180_000);
  afterAll(async () => {
    await services?.close();
    await role?.drop();
  }, 180_000);

  it('never takes a server past its max_tenants', async () => {
    const slugs = ['c-a', 'c-b', 'c-c', 'c-d', 'c-e', 'c-f'];
    const results = await Promise.allSettled(
      slugs.map((slug) => services.tenants.create({ slug, name: slug })),
    );
    const placed = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.server] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    // Room for three in all: two on eu-1, one on the control plane's server.
    expect(placed.sort()).toEqual(['eu-1', 'eu-1', null].sort());
    expect(refused).toHaveLength(3);
    for (const reason of refused) expect(reason).toMatchObject({ code: 'database_servers_full' });
    expect(Object.fromEntries(await tenantsPerServer(services.backend.control))).toEqual({
      default: 1,
      'eu-1': 2,
    });
  }, 180_000);
});

describe.each(BACKENDS)('placement on the %s control plane', (kind) => {
  let services: TestServices;
  beforeAll(async () => {
    services = await servicesOn(kind, { placement: 'most-room' });
  }, 180_000);
  afterAll(async () => {
    await services?.close();
  }, 180_000);

  it('places on the control plane’s server when it is the only one, and counts its tenants', async () => {
    expect(await tenantsPerServer(services.backend.control)).toEqual(new Map());
    const tenant = await services.tenants.create({ slug: 'only-one', name: 'Only' });
    expect(tenant.server).toBeNull();
    expect(await tenantsPerServer(services.backend.control)).toEqual(new Map([['default', 1]]));
  }, 60_000);
});

/** Over the admin API, with the default policy: the control plane's server, until full. */
describe('placement over the admin API', () => {
  let role: ServerRole;
  let gateway: TestGateway;

  beforeAll(async () => {
    role = await createServerRole();
    gateway = await startGateway(
      {
        providers: { mock: { type: 'mock' } },
        models: [{ name: 'mock-chat', provider: 'mock' }],
        // The test tenant `test` fills the control plane's server.
        database_servers: {
          default: { max_tenants: 1 },
          'eu-1': { url_env: 'TEST_EU1_URL', max_tenants: 5 },
        },
      },
      { DATABASE_URL: TEST_DATABASE_URL, TEST_EU1_URL: role.url },
    );
  }, 180_000);
  afterAll(async () => {
    await gateway?.close();
    await role?.drop();
  }, 180_000);

  const create = (body: unknown) =>
    gateway.fetch('/admin/v1/tenants', {
      method: 'POST',
      headers: { authorization: `Bearer ${gateway.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('answers 503 database_servers_full in OpenAI’s shape when the default server is full', async () => {
    const refused = await create({ slug: 'api-auto', name: 'Auto' });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({
      error: { code: 'database_servers_full', type: 'server_error' },
    });
    await expect(gateway.services.tenants.get('api-auto')).rejects.toMatchObject({
      code: 'tenant_not_found',
    });
    // Naming a server still works.
    const named = await create({ slug: 'api-named', name: 'Named', server: 'eu-1' });
    expect(named.status).toBe(201);
    expect(await named.json()).toMatchObject({ server: 'eu-1' });
  }, 60_000);
});
