import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeyCommand } from '../../src/cli/key-commands.js';
import { UsageError } from '../../src/cli/program.js';
import type { KeyService } from '../../src/services/keys/key-service.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

describe('llm-backend key ...', () => {
  let services: TestServices;
  let keys: KeyService;
  const lines: string[] = [];
  const run = async (...args: string[]) => {
    lines.length = 0;
    await runKeyCommand(args, keys, { line: (text) => lines.push(text) });
    return lines.join('\n');
  };

  beforeAll(async () => {
    services = await servicesOn('postgres');
    await services.tenants.create({ slug: 'acme', name: 'Acme' });
    keys = services.keys;
  }, 60_000);
  afterAll(() => services?.close(), 60_000);

  it('creates a key and prints its secret once; list never shows it', async () => {
    const created = JSON.parse(
      await run('create', 'acme', '--name', 'ci', '--models', 'a, b', '--json'),
    ) as {
      id: string;
      secret: string;
      allowed_models: string[];
      role: string;
    };
    expect(created).toMatchObject({ role: 'member', allowed_models: ['a', 'b'] });
    expect(await keys.resolve(created.secret)).toMatchObject({ keyId: created.id });
    const listed = await run('list', 'acme', '--json');
    expect(listed).toContain(created.id);
    expect(listed).not.toContain(created.secret);
    expect(await run('list', 'acme')).toMatch(
      /^key_\S+ {2}llmb_\w{8}\.\.\. {2}member {2}active {2}ci$/,
    );
  });

  it('rotates with a grace period and revokes', async () => {
    const { id, secret } = JSON.parse(
      await run('create', 'acme', '--name', 'r', '--role', 'admin', '--json'),
    ) as {
      id: string;
      secret: string;
    };
    const rotated = await run('rotate', 'acme', id, '--grace-seconds', '60');
    const fresh = /secret \(shown once\): (\S+)/.exec(rotated)?.[1] ?? '';
    expect(fresh).not.toBe(secret);
    await expect(keys.resolve(secret)).resolves.toMatchObject({ keyId: id });
    expect(await run('revoke', 'acme', id)).toContain('  revoked  ');
    await expect(keys.resolve(fresh)).rejects.toMatchObject({ code: 'invalid_api_key' });
  });

  it('refuses bad arguments before touching anything', async () => {
    const before = (await keys.list('acme')).length;
    for (const args of [
      ['create', 'acme'],
      ['create', 'acme', '--name', 'x', '--role', 'god'],
      ['create', 'acme', '--name', 'x', '--expires', 'soon'],
      ['rotate', 'acme'],
      ['rotate', 'acme', 'key_x', '--grace-seconds', '-5'],
      ['frob', 'acme'],
    ]) {
      await expect(run(...args)).rejects.toBeInstanceOf(UsageError);
    }
    // No subcommand: the group's help, as `key --help` prints it.
    expect(await run()).toMatch(/^Usage: llm-backend key <command> \[options\]$/m);
    await expect(run('revoke', 'acme', 'key_nope')).rejects.toMatchObject({
      code: 'key_not_found',
    });
    await expect(run('list', 'nobody')).rejects.toMatchObject({ code: 'tenant_not_found' });
    expect((await keys.list('acme')).length).toBe(before);
  });
});
