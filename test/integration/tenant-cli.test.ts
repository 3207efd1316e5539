import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/program.js';
import { runMigrate, runTenantCommand } from '../../src/cli/tenant-commands.js';
import type { TenantService } from '../../src/services/tenancy/tenant-service.js';
import { BACKENDS, type TestBackend } from '../helpers/databases.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

describe.each(BACKENDS)('llm-backend tenant ... on %s', (kind) => {
  let services: TestServices;
  let backend: TestBackend;
  let tenants: TenantService;
  const lines: string[] = [];
  const out = { line: (text: string) => lines.push(text) };
  const run = async (...args: string[]) => {
    lines.length = 0;
    await runTenantCommand(args, tenants, out);
    return lines.join('\n');
  };

  beforeAll(async () => {
    services = await servicesOn(kind);
    ({ backend, tenants } = services);
  }, 60_000);
  afterAll(() => services?.close(), 60_000);

  it('creates, lists, gets, disables and enables tenants', async () => {
    expect(await run('create', 'acme', '--name', 'Acme Inc')).toMatch(
      /^tnt_[0-9a-z]+ {2}acme {2}active {2}Acme Inc$/,
    );
    const listed = JSON.parse(await run('list', '--json')) as { slug: string; status: string }[];
    expect(listed).toEqual([
      expect.objectContaining({ slug: 'acme', name: 'Acme Inc', status: 'active' }),
    ]);
    expect(JSON.parse(await run('get', 'acme', '--json'))).toMatchObject({ slug: 'acme' });
    expect(await run('disable', 'acme')).toContain('  disabled  ');
    expect(await run('enable', 'acme')).toContain('  active  ');
  }, 60_000);

  it('refuses bad input with a clear error and changes nothing', async () => {
    await expect(run('create', 'acme')).rejects.toMatchObject({ code: 'tenant_exists' });
    await expect(run('create', 'Bad Slug')).rejects.toMatchObject({
      code: 'invalid_request',
      param: 'slug',
    });
    await expect(run('get', 'nobody')).rejects.toMatchObject({ code: 'tenant_not_found' });
    await expect(run('frobnicate')).rejects.toBeInstanceOf(UsageError);
    await expect(run('disable')).rejects.toBeInstanceOf(UsageError);
    // A usage error names the subcommand it was made on, for the pointer to its help.
    await expect(run('create', 'x-y', '--bogus')).rejects.toMatchObject({
      command: 'llm-backend tenant create',
      message: "unknown option '--bogus'",
    });
    await expect(run('create')).rejects.toMatchObject({
      command: 'llm-backend tenant create',
      message: "missing required argument 'slug'",
    });
    expect((await tenants.list()).map((tenant) => tenant.slug)).toEqual(['acme']);
  });

  it('migrates every tenant, then deletes and purges one', async () => {
    lines.length = 0;
    await runMigrate(tenants, out);
    expect(lines).toEqual(['control plane: up to date', 'tenant 1/1 acme: up to date']);
    const acme = await tenants.get('acme');
    expect(await run('delete', 'acme')).toContain('  deleting  ');
    expect(await run('purge')).toBe(`purged ${acme.id}`);
    expect(readdirSync(services.exportDirectory)).toEqual([
      expect.stringMatching(new RegExp(`^acme-${acme.id}-\\d{8}T\\d{6}Z\\.jsonl\\.gz$`)),
    ]);
    expect(await run('purge')).toBe('nothing to purge');
    expect(await backend.server.exists(acme.databaseName)).toBe(false);
    expect(await run('list')).toBe('');
  }, 60_000);
});
