import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdminKeyCommand } from '../../src/cli/admin-key-commands.js';
import { UsageError } from '../../src/cli/program.js';
import { runUserCommand } from '../../src/cli/user-commands.js';
import { BACKENDS } from '../helpers/databases.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

describe.each(BACKENDS)('llm-backend user and admin-key on %s', (kind) => {
  let services: TestServices;
  const lines: string[] = [];
  const out = { line: (text: string) => lines.push(text) };
  const actor = { type: 'cli' as const, id: 'operator' };
  const user = async (...args: string[]) => {
    lines.length = 0;
    await runUserCommand(args, services.users, out, actor);
    return lines.join('\n');
  };
  const adminKey = async (...args: string[]) => {
    lines.length = 0;
    await runAdminKeyCommand(args, services.platformKeys, out, actor);
    return lines.join('\n');
  };

  beforeAll(async () => {
    services = await servicesOn(kind);
    await services.tenants.create({ slug: 'acme', name: 'Acme' });
  }, 60_000);
  afterAll(() => services?.close(), 60_000);

  it('creates, lists, updates, disables and enables users, audited as the operator', async () => {
    const created = JSON.parse(
      await user('create', 'acme', '--email', 'Dev@Acme.test', '--name', 'Dev', '--json'),
    ) as { id: string; email: string; role: string };
    expect(created).toMatchObject({ email: 'dev@acme.test', role: 'member' });
    expect(await user('list', 'acme')).toMatch(
      new RegExp(`^${created.id} {2}dev@acme.test {2}member {2}active {2}Dev$`),
    );
    expect(await user('update', 'acme', created.id, '--role', 'viewer')).toContain('  viewer  ');
    expect(await user('disable', 'acme', created.id)).toContain('  disabled  ');
    expect(await user('enable', 'acme', created.id)).toContain('  active  ');
    const trail = await services.tenants
      .database(await services.tenants.get('acme'))
      .selectFrom('audit_log')
      .select(['action', 'actor_type', 'actor_id'])
      .where('target_id', '=', created.id)
      .orderBy('seq')
      .execute();
    expect(trail.map((entry) => entry.action)).toEqual([
      'user.create',
      'user.update',
      'user.disable',
      'user.enable',
    ]);
    expect(
      trail.every((entry) => entry.actor_type === 'cli' && entry.actor_id === 'operator'),
    ).toBe(true);
  });

  it('refuses bad input and changes nothing', async () => {
    const before = await services.users.list('acme');
    await expect(user('create', 'acme', '--email', 'x@y.test')).rejects.toBeInstanceOf(UsageError);
    // --role takes one of the roles: an unknown one is refused while the line is read.
    await expect(
      user('create', 'acme', '--email', 'x@y.test', '--name', 'X', '--role', 'god'),
    ).rejects.toBeInstanceOf(UsageError);
    await expect(
      user('create', 'acme', '--email', 'not-an-email', '--name', 'X'),
    ).rejects.toMatchObject({ code: 'invalid_request', param: 'email' });
    await expect(user('get', 'acme', 'usr_nobody')).rejects.toMatchObject({
      code: 'user_not_found',
    });
    await expect(user('update', 'acme', 'usr_nobody')).rejects.toBeInstanceOf(UsageError);
    await expect(user('list', 'nobody')).rejects.toMatchObject({ code: 'tenant_not_found' });
    expect(await services.users.list('acme')).toEqual(before);
  });

  it('manages platform admin keys: secrets once, revoked at once', async () => {
    const made = JSON.parse(await adminKey('create', '--name', 'ops', '--json')) as {
      id: string;
      secret: string;
    };
    expect(made.secret).toMatch(/^llmb_[0-9A-Za-z]{38}$/);
    expect(await services.keys.resolve(made.secret)).toMatchObject({ kind: 'platform' });
    const listed = await adminKey('list');
    expect(listed).toContain(`${made.id}  `);
    expect(listed).not.toContain(made.secret);
    expect(await adminKey('revoke', made.id)).toContain('  revoked  ');
    await expect(services.keys.resolve(made.secret)).rejects.toMatchObject({
      code: 'invalid_api_key',
    });
    await expect(adminKey('rotate')).rejects.toBeInstanceOf(UsageError);
    await expect(adminKey('create')).rejects.toBeInstanceOf(UsageError);
    await expect(adminKey('create', '--name', 'x', '--expires', 'soon')).rejects.toBeInstanceOf(
      UsageError,
    );
  });
});
