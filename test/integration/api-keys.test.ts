import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../../src/domain/key-format.js';
import type { KeyService } from '../../src/services/keys/key-service.js';
import type { TenantService } from '../../src/services/tenancy/tenant-service.js';
import { BACKENDS, type TestBackend } from '../helpers/databases.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

describe.each(BACKENDS)('API keys on %s', (kind) => {
  let services: TestServices;
  let tenants: TenantService;
  let keys: KeyService;
  let backend: TestBackend;

  beforeAll(async () => {
    services = await servicesOn(kind);
    ({ tenants, keys, backend } = services);
    await tenants.create({ slug: 'acme', name: 'Acme' });
    await tenants.create({ slug: 'globex', name: 'Globex' });
  }, 90_000);
  afterAll(() => services?.close(), 60_000);

  const invalid = { code: 'invalid_api_key', status: 401 };

  it('creates a key shown once and stores only its hash', async () => {
    const { key, secret } = await keys.create('acme', {
      name: 'ci',
      role: 'member',
      allowedModels: ['mock-chat'],
    });
    expect(secret).toMatch(/^llmb_[0-9A-Za-z]{38}$/);
    expect(key).toMatchObject({
      name: 'ci',
      role: 'member',
      allowedModels: ['mock-chat'],
      revokedAt: null,
    });
    expect(secret.startsWith(key.displayPrefix)).toBe(true);
    const stored = JSON.stringify([
      await tenants
        .database(await tenants.get('acme'))
        .selectFrom('api_keys')
        .selectAll()
        .execute(),
      await backend.control.selectFrom('api_key_index').selectAll().execute(),
    ]);
    expect(stored).not.toContain(secret);
    expect(stored).not.toContain(secret.slice(5));
    const principal = await keys.resolve(secret);
    expect(principal).toMatchObject({
      kind: 'tenant',
      tenantId: key.tenantId,
      keyId: key.id,
      role: 'member',
      allowedModels: ['mock-chat'],
    });
    expect((await keys.list('acme')).map((k) => k.id)).toEqual([key.id]);
  });

  it('refuses malformed, forged and unknown keys alike', async () => {
    const { secret } = await keys.create('acme', { name: 'probe', role: 'member' });
    const forged = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    for (const attempt of [
      '',
      'sk-not-ours',
      'llmb_short',
      forged,
      generateApiKey(),
      `${secret} `,
    ]) {
      await expect(keys.resolve(attempt)).rejects.toMatchObject(invalid);
    }
  });

  it('expires keys at their expiry time', async () => {
    const now = new Date();
    const { secret } = await keys.create('acme', {
      name: 'temp',
      role: 'member',
      expiresAt: new Date(now.getTime() + 60_000),
    });
    await expect(keys.resolve(secret, now)).resolves.toMatchObject({ role: 'member' });
    await expect(keys.resolve(secret, new Date(now.getTime() + 60_000))).rejects.toMatchObject(
      invalid,
    );
  });

  it('rotates: the old secret works inside the grace period, never after', async () => {
    const now = new Date();
    const { key, secret: old } = await keys.create('acme', { name: 'rotating', role: 'admin' });
    const { secret: fresh } = await keys.rotate('acme', key.id, 30, now);
    expect(fresh).not.toBe(old);
    await expect(keys.resolve(fresh, now)).resolves.toMatchObject({ keyId: key.id });
    await expect(keys.resolve(old, new Date(now.getTime() + 29_000))).resolves.toMatchObject({
      keyId: key.id,
    });
    await expect(keys.resolve(old, new Date(now.getTime() + 30_000))).rejects.toMatchObject(
      invalid,
    );
    await expect(keys.resolve(fresh, new Date(now.getTime() + 30_000))).resolves.toMatchObject({
      keyId: key.id,
    });
  });

  it('revokes at once, old and new secrets alike', async () => {
    const { key, secret: old } = await keys.create('acme', { name: 'doomed', role: 'member' });
    const { secret: fresh } = await keys.rotate('acme', key.id, 3600);
    const revoked = await keys.revoke('acme', key.id);
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    await expect(keys.resolve(fresh)).rejects.toMatchObject(invalid);
    await expect(keys.resolve(old)).rejects.toMatchObject(invalid);
    await expect(keys.rotate('acme', key.id, 0)).rejects.toMatchObject({ code: 'key_not_found' });
  });

  it("keeps tenants apart: one tenant's key ids are unknown to another", async () => {
    const { key } = await keys.create('acme', { name: 'mine', role: 'owner' });
    await expect(keys.get('globex', key.id)).rejects.toMatchObject({ code: 'key_not_found' });
    await expect(keys.revoke('globex', key.id)).rejects.toMatchObject({ code: 'key_not_found' });
    await expect(keys.rotate('globex', key.id, 0)).rejects.toMatchObject({ code: 'key_not_found' });
    expect(await keys.list('globex')).toEqual([]);
    expect((await keys.get('acme', key.id)).revokedAt).toBeNull();
  });

  it('answers 403 for a disabled tenant and refuses a deleted one', async () => {
    const { secret } = await keys.create('globex', { name: 'g', role: 'member' });
    await tenants.setStatus('globex', 'disabled');
    await expect(keys.resolve(secret)).rejects.toMatchObject({
      code: 'tenant_disabled',
      status: 403,
    });
    await tenants.setStatus('globex', 'active');
    await expect(keys.resolve(secret)).resolves.toMatchObject({ role: 'member' });
    await tenants.delete('globex');
    await expect(keys.resolve(secret)).rejects.toMatchObject(invalid);
  });
});
