import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../../src/domain/key-format.js';
import { BACKENDS } from '../helpers/databases.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

const invalid = { code: 'invalid_api_key', status: 401 };

describe.each(BACKENDS)('platform admin keys on %s', (kind) => {
  let services: TestServices;

  beforeAll(async () => {
    services = await servicesOn(kind);
  }, 90_000);
  afterAll(() => services?.close(), 60_000);

  it('bootstraps one key, once, even when instances start together', async () => {
    const given = generateApiKey();
    const results = await Promise.all([
      services.platformKeys.bootstrap(given),
      services.platformKeys.bootstrap(given),
      services.platformKeys.bootstrap(),
    ]);
    const made = results.filter((result) => result !== null);
    expect(made).toHaveLength(1);
    expect(await services.platformKeys.list()).toHaveLength(1);
    const secret = made[0]?.secret as string;
    expect(await services.keys.resolve(secret)).toMatchObject({ kind: 'platform' });

    // Revoked, it stays revoked: a restart does not bring the bootstrap key back.
    await services.platformKeys.revoke(made[0]?.key.id as string);
    expect(await services.platformKeys.bootstrap(secret)).toBeNull();
    await expect(services.keys.resolve(secret)).rejects.toMatchObject(invalid);
  });

  it('stores only a keyed hash and audits every change in the platform log', async () => {
    const { key, secret } = await services.platformKeys.create({ name: 'ops' });
    const rows = await services.backend.control
      .selectFrom('platform_api_keys')
      .selectAll()
      .where('id', '=', key.id)
      .execute();
    expect(JSON.stringify(rows)).not.toContain(secret);
    await services.platformKeys.rotate(key.id, 60);
    await services.platformKeys.revoke(key.id);
    const audit = await services.backend.control
      .selectFrom('platform_audit_log')
      .select(['action', 'before', 'after'])
      .where('target_id', '=', key.id)
      .orderBy('seq')
      .execute();
    expect(audit.map((entry) => entry.action)).toEqual([
      'platform_api_key.create',
      'platform_api_key.rotate',
      'platform_api_key.revoke',
    ]);
    expect(JSON.stringify(audit)).not.toMatch(/llmb_[0-9A-Za-z]{38}|key_hash/);
  });

  it('keeps one working key when asked to, and counts neither revoked nor expired ones', async () => {
    const past = new Date(Date.now() - 1000);
    await services.platformKeys.create({ name: 'expired', expiresAt: past });
    const last = await services.platformKeys.create({ name: 'keeper' });
    for (const key of await services.platformKeys.list())
      if (key.id !== last.key.id && key.revokedAt === null)
        await services.platformKeys.revoke(key.id);
    await expect(
      services.platformKeys.revoke(last.key.id, new Date(), undefined, { keepOne: true }),
    ).rejects.toMatchObject({ code: 'last_platform_key', status: 409 });
    expect(await services.keys.resolve(last.secret)).toMatchObject({ kind: 'platform' });

    // With another one working, it goes.
    await services.platformKeys.create({ name: 'successor' });
    const revoked = await services.platformKeys.revoke(last.key.id, new Date(), undefined, {
      keepOne: true,
    });
    expect(revoked.revokedAt).not.toBeNull();
  });

  it('rotates with a grace period for the old secret, then refuses it', async () => {
    const { key, secret: first } = await services.platformKeys.create({ name: 'rotating' });
    const now = new Date();
    const { secret: second } = await services.platformKeys.rotate(key.id, 60, now);
    expect(await services.keys.resolve(first, now)).toMatchObject({ kind: 'platform' });
    const inGrace = await services.keys.resolve(first, now);
    expect(inGrace.validUntil?.getTime()).toBe(now.getTime() + 60_000);
    const later = new Date(now.getTime() + 61_000);
    await expect(services.keys.resolve(first, later)).rejects.toMatchObject(invalid);
    expect(await services.keys.resolve(second, later)).toMatchObject({ kind: 'platform' });

    // A second rotation ends the first secret at once, whatever its grace.
    const { secret: third } = await services.platformKeys.rotate(key.id, 60, now);
    await expect(services.keys.resolve(first, now)).rejects.toMatchObject(invalid);
    expect(await services.keys.resolve(second, now)).toMatchObject({ kind: 'platform' });
    expect(await services.keys.resolve(third, now)).toMatchObject({ kind: 'platform' });
  });

  it('refuses expired keys and keeps the last use without a write per call', async () => {
    const past = new Date(Date.now() - 1000);
    const expired = await services.platformKeys.create({ name: 'old', expiresAt: past });
    await expect(services.keys.resolve(expired.secret)).rejects.toMatchObject(invalid);

    const { key } = await services.platformKeys.create({ name: 'used' });
    const at = new Date('2026-01-02T03:04:05.000Z');
    services.keyUsage.touch(null, key.id, at);
    expect((await services.platformKeys.get(key.id)).lastUsedAt).toBeNull();
    await services.keyUsage.flush();
    expect((await services.platformKeys.get(key.id)).lastUsedAt).toEqual(at);
  });

  it('answers key_not_found for unknown or revoked keys', async () => {
    await expect(services.platformKeys.get('key_nope')).rejects.toMatchObject({ status: 404 });
    await expect(services.platformKeys.revoke('key_nope')).rejects.toMatchObject({ status: 404 });
    const { key } = await services.platformKeys.create({ name: 'gone' });
    await services.platformKeys.revoke(key.id);
    await expect(services.platformKeys.rotate(key.id, 60)).rejects.toMatchObject({
      code: 'key_not_found',
    });
  });
});
