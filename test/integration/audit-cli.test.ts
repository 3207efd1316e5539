import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAuditCommand } from '../../src/cli/audit-commands.js';
import { runKeyCommand } from '../../src/cli/key-commands.js';
import { UsageError } from '../../src/cli/program.js';
import { runTenantCommand } from '../../src/cli/tenant-commands.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

describe('llm-backend audit ...', () => {
  let services: TestServices;
  const lines: string[] = [];
  const out = { line: (text: string) => lines.push(text) };
  const operator = { type: 'cli' as const, id: 'ops-bob' };
  const audit = async (...args: string[]) => {
    lines.length = 0;
    const intact = await runAuditCommand(args, services, out);
    return { intact, text: lines.join('\n') };
  };

  beforeAll(async () => {
    services = await servicesOn('postgres');
    await runTenantCommand(['create', 'acme'], services.tenants, out, operator);
    await runKeyCommand(['create', 'acme', '--name', 'ci'], services.keys, out, operator);
  }, 60_000);
  afterAll(() => services?.close(), 60_000);

  it('lists who did what, for a tenant and for the platform', async () => {
    expect((await audit('list', 'acme')).text).toMatch(
      / {2}cli:ops-bob {2}api_key\.create {2}api_key:key_/,
    );
    expect((await audit('list', '--platform')).text).toMatch(
      / {2}cli:ops-bob {2}tenant\.create {2}tenant:tnt_/,
    );
  });

  it('verifies the chain and reports where it breaks', async () => {
    expect(await audit('verify', 'acme')).toEqual({
      intact: true,
      text: 'ok: 1 entries, chain intact',
    });
    const acme = await services.tenants.get('acme');
    await sql`update audit_log set action = 'api_key.nothing'`.execute(
      services.tenants.database(acme),
    );
    expect(await audit('verify', 'acme')).toEqual({
      intact: false,
      text: 'BROKEN at entry 0: hash_mismatch',
    });
  });

  it('refuses bad arguments', async () => {
    await expect(audit('verify')).rejects.toBeInstanceOf(UsageError);
    await expect(audit('list', 'acme', '--limit', '0')).rejects.toBeInstanceOf(UsageError);
    await expect(audit('frob', 'acme')).rejects.toBeInstanceOf(UsageError);
    await expect(audit('list', 'nobody')).rejects.toMatchObject({ code: 'tenant_not_found' });
    await expect(audit('list', 'acme', '--since', 'soon')).rejects.toBeInstanceOf(UsageError);
    await expect(audit('list', 'acme', '--actor', 'robot:x')).rejects.toBeInstanceOf(UsageError);
    await expect(audit('list', 'acme', '--after', 'aud_nope')).rejects.toMatchObject({
      code: 'invalid_request',
      param: 'after',
    });
  });

  it('filters and pages, printing the option for the next page', async () => {
    await runTenantCommand(['create', 'beta'], services.tenants, out, operator);
    for (const name of ['one', 'two', 'three'])
      await runKeyCommand(['create', 'beta', '--name', name], services.keys, out, operator);
    const filters = ['--actor', 'cli:ops-bob', '--action', 'api_key.*', '--target', 'api_key:'];
    const first = await audit('list', 'beta', ...filters, '--since', '2020-01-01', '--limit', '2');
    const next = first.text.match(/^more: --after (aud_\w+)$/m)?.[1];
    expect(first.text.split('\n')).toHaveLength(3);
    expect(next).toBeDefined();
    const last = await audit('list', 'beta', ...filters, '--limit', '2', '--after', next ?? '');
    expect(last.text).toMatch(
      /^\S+ {2}aud_\w+ {2}cli:ops-bob {2}api_key\.create {2}api_key:key_\w+$/,
    );
    expect((await audit('list', 'beta', '--until', '2020-01-01')).text).toBe('');
  });
});
