import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeyCommand } from '../../src/cli/key-commands.js';
import { UsageError } from '../../src/cli/tenant-commands.js';
import { ApiKeyHasher, deriveKey } from '../../src/services/keys/key-hash.js';
import { KeyService } from '../../src/services/keys/key-service.js';
import { PlatformKeyService } from '../../src/services/keys/platform-key-service.js';
import { TenantService } from '../../src/services/tenancy/tenant-service.js';
import { DatabaseServers } from '../../src/storage/database-servers.js';
import { TenantConnections } from '../../src/storage/tenant-connections.js';
import { createBackend, type TestBackend } from '../helpers/databases.js';

describe('llm-backend key ...', () => {
  let backend: TestBackend;
  let connections: TenantConnections;
  let keys: KeyService;
  const lines: string[] = [];
  const run = async (...args: string[]) => {
    lines.length = 0;
    await runKeyCommand(args, keys, { line: (text) => lines.push(text) });
    return lines.join('\n');
  };

  beforeAll(async () => {
    backend = await createBackend('postgres');
    connections = new TenantConnections(DatabaseServers.of(backend.server), {
      maxOpen: 4,
      maxConnectionsPerTenant: 2,
    });
    const tenants = new TenantService({
      control: backend.control,
      connections,
      deletionGraceMs: 0,
      exportDirectory: 'unused', // this suite never purges a tenant
    });
    await tenants.create({ slug: 'acme', name: 'Acme' });
    const hasher = new ApiKeyHasher(deriveKey('k'.repeat(32), 'api-key-hash'));
    const platformKeys = new PlatformKeyService({ control: backend.control, hasher });
    keys = new KeyService({ tenants, control: backend.control, hasher, platformKeys });
  }, 60_000);
  afterAll(async () => {
    await connections?.close();
    await backend?.destroy();
  }, 60_000);

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
      [],
    ]) {
      await expect(run(...args)).rejects.toBeInstanceOf(UsageError);
    }
    await expect(run('revoke', 'acme', 'key_nope')).rejects.toMatchObject({
      code: 'key_not_found',
    });
    await expect(run('list', 'nobody')).rejects.toMatchObject({ code: 'tenant_not_found' });
    expect((await keys.list('acme')).length).toBe(before);
  });
});
