import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tenant, TenantService } from '../../src/services/tenancy/tenant-service.js';
import type { UserService } from '../../src/services/tenancy/user-service.js';
import type { TenantRole } from '../../src/storage/tenant-schema.js';
import { BACKENDS } from '../helpers/databases.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

/** The same cases on the PostgreSQL server and on embedded PGlite: they must not drift. */
describe.each(BACKENDS)('users on %s', (kind) => {
  let services: TestServices;
  let tenants: TenantService;
  let users: UserService;
  let acme: Tenant;
  let globex: Tenant;

  beforeAll(async () => {
    services = await servicesOn(kind);
    ({ tenants, users } = services);
    acme = await tenants.create({ slug: 'acme', name: 'Acme' });
    globex = await tenants.create({ slug: 'globex', name: 'Globex' });
  }, 60_000);
  afterAll(() => services?.close(), 60_000);

  it('creates, lists, gets, updates and disables users', async () => {
    const ann = await users.create('acme', {
      email: '  Ann@Acme.TEST ',
      name: ' Ann ',
      role: 'owner',
    });
    expect(ann).toMatchObject({
      email: 'ann@acme.test',
      name: 'Ann',
      role: 'owner',
      status: 'active',
    });
    expect(ann.id).toMatch(/^usr_[0-9a-z]+$/);
    expect(ann.createdAt).toBeInstanceOf(Date);
    expect(ann.updatedAt).toBeInstanceOf(Date);

    const bob = await users.create(acme.id, {
      email: 'bob@acme.test',
      name: 'Bob',
      role: 'member',
    });
    expect((await users.list('acme')).map((user) => user.id)).toEqual([ann.id, bob.id]);
    expect(await users.get(acme.id, bob.id)).toEqual(bob);

    const renamed = await users.update('acme', bob.id, { name: 'Robert', role: 'viewer' });
    expect(renamed).toMatchObject({ id: bob.id, name: 'Robert', role: 'viewer', status: 'active' });
    expect(renamed.updatedAt.getTime()).toBeGreaterThanOrEqual(bob.updatedAt.getTime());
    expect(await users.update('acme', bob.id, { role: 'billing' })).toMatchObject({
      name: 'Robert',
      role: 'billing',
    });
    expect(await users.update('acme', bob.id, {})).toMatchObject({ role: 'billing' });

    expect((await users.setStatus('acme', bob.id, 'disabled')).status).toBe('disabled');
    expect((await users.get('acme', bob.id)).status).toBe('disabled');
    expect((await users.setStatus('acme', bob.id, 'active')).status).toBe('active');
  });

  it('refuses a second user with the same email, whatever its case', async () => {
    await users.create('acme', { email: 'carol@acme.test', name: 'Carol', role: 'admin' });
    const before = await users.list('acme');
    await expect(
      users.create('acme', { email: 'CAROL@acme.test', name: 'Carol 2', role: 'member' }),
    ).rejects.toMatchObject({ code: 'user_exists', status: 409, param: 'email' });
    expect(await users.list('acme')).toEqual(before);
  });

  it.each([
    ['email', { email: 'not-an-email', name: 'X', role: 'member' }],
    ['email', { email: 'two words@acme.test', name: 'X', role: 'member' }],
    ['email', { email: '', name: 'X', role: 'member' }],
    ['name', { email: 'x@acme.test', name: '   ', role: 'member' }],
    ['name', { email: 'x@acme.test', name: 'x'.repeat(201), role: 'member' }],
    ['role', { email: 'x@acme.test', name: 'X', role: 'superuser' }],
  ])('refuses an invalid %s and writes nothing', async (param, input) => {
    const before = await users.list('acme');
    await expect(
      users.create('acme', input as { email: string; name: string; role: TenantRole }),
    ).rejects.toMatchObject({ code: 'invalid_request', status: 400, param });
    expect(await users.list('acme')).toEqual(before);
  });

  it('refuses invalid updates and leaves the user unchanged', async () => {
    const [first] = await users.list('acme');
    if (first === undefined) throw new Error('no user in acme');
    await expect(users.update('acme', first.id, { name: '' })).rejects.toMatchObject({
      code: 'invalid_request',
      param: 'name',
    });
    await expect(
      users.update('acme', first.id, { name: 'Fine', role: 'root' as TenantRole }),
    ).rejects.toMatchObject({ code: 'invalid_request', param: 'role' });
    await expect(users.setStatus('acme', first.id, 'gone' as 'disabled')).rejects.toMatchObject({
      code: 'invalid_request',
      param: 'status',
    });
    expect(await users.get('acme', first.id)).toEqual(first);
  });

  it("keeps each tenant's users in its own database", async () => {
    const dave = await users.create('acme', {
      email: 'dave@shared.test',
      name: 'Dave',
      role: 'member',
    });
    await expect(users.get('globex', dave.id)).rejects.toMatchObject({
      code: 'user_not_found',
      status: 404,
    });
    await expect(users.update(globex.id, dave.id, { name: 'Mallory' })).rejects.toMatchObject({
      code: 'user_not_found',
    });
    await expect(users.setStatus('globex', dave.id, 'disabled')).rejects.toMatchObject({
      code: 'user_not_found',
    });
    expect(await users.list('globex')).toEqual([]);
    // The same email is a different person in another tenant.
    const other = await users.create('globex', {
      email: 'dave@shared.test',
      name: 'Other Dave',
      role: 'viewer',
    });
    expect(other.id).not.toBe(dave.id);
    expect((await users.get('acme', dave.id)).name).toBe('Dave');
  });

  it('reports an unknown user as user_not_found', async () => {
    // Thunks, so each rejection is awaited as it happens rather than left unhandled.
    for (const attempt of [
      () => users.get('acme', 'usr_nobody'),
      () => users.update('acme', 'usr_nobody', { name: 'X' }),
      () => users.update('acme', 'usr_nobody', {}),
      () => users.setStatus('acme', 'usr_nobody', 'disabled'),
    ]) {
      await expect(attempt()).rejects.toMatchObject({
        code: 'user_not_found',
        status: 404,
        param: 'user',
      });
    }
    await expect(users.list('nobody')).rejects.toMatchObject({ code: 'tenant_not_found' });
  });

  it('still administers a disabled tenant, and refuses a deleted one', async () => {
    await tenants.setStatus('globex', 'disabled');
    const eve = await users.create('globex', {
      email: 'eve@globex.test',
      name: 'Eve',
      role: 'admin',
    });
    expect((await users.list('globex')).map((user) => user.id)).toContain(eve.id);
    await tenants.setStatus('globex', 'active');

    await tenants.delete('globex');
    for (const attempt of [
      () => users.list('globex'),
      () => users.get('globex', eve.id),
      () => users.create(globex.id, { email: 'fay@globex.test', name: 'Fay', role: 'member' }),
      () => users.update('globex', eve.id, { name: 'Evelyn' }),
      () => users.setStatus('globex', eve.id, 'disabled'),
    ]) {
      await expect(attempt()).rejects.toMatchObject({ code: 'tenant_not_found', status: 404 });
    }
    expect((await users.list('acme')).length).toBeGreaterThan(0);
  });
});
