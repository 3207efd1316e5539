import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../src/services/audit/audit-log.js';
import type { KeyService } from '../../src/services/keys/key-service.js';
import type { TenantService } from '../../src/services/tenancy/tenant-service.js';
import { auditJson } from '../helpers/audit.js';
import { BACKENDS } from '../helpers/databases.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

describe.each(BACKENDS)('audit log on %s', (kind) => {
  let services: TestServices;
  let tenants: TenantService;
  let keys: KeyService;
  const operator = { type: 'cli' as const, id: 'ops-alice' };

  beforeAll(async () => {
    services = await servicesOn(kind);
    ({ tenants, keys } = services);
    await tenants.create({ slug: 'acme', name: 'Acme' }, operator);
  }, 60_000);
  afterAll(() => services?.close(), 60_000);

  const tenantDb = async () => tenants.database(await tenants.get('acme')) as Kysely<unknown>;

  it('records key changes in the tenant database, without secrets', async () => {
    const { key, secret } = await keys.create('acme', { name: 'ci', role: 'member' }, operator);
    const { secret: rotated } = await keys.rotate('acme', key.id, 60, new Date(), operator);
    await keys.revoke('acme', key.id, new Date(), operator);
    const entries = await auditJson(services, 'acme');
    expect(entries.map((entry) => entry.action)).toEqual([
      'api_key.revoke',
      'api_key.rotate',
      'api_key.create',
    ]);
    expect(
      entries.every((entry) => entry.actor_type === 'cli' && entry.actor_id === 'ops-alice'),
    ).toBe(true);
    expect(entries[0]).toMatchObject({
      target_type: 'api_key',
      target_id: key.id,
      after: expect.objectContaining({ revoked_at: expect.any(String) }),
    });
    const text = JSON.stringify(entries);
    for (const secretish of [secret, rotated, secret.slice(5)])
      expect(text).not.toContain(secretish);
    expect(text).not.toContain('key_hash');
    expect(await services.audit.verify('acme')).toEqual({ ok: true, count: 3 });
  });

  it('records tenant changes in the control plane', async () => {
    await tenants.setStatus('acme', 'disabled', operator);
    await tenants.setStatus('acme', 'active', operator);
    const entries = await auditJson(services, null);
    expect(entries.map((entry) => entry.action)).toEqual([
      'tenant.enable',
      'tenant.disable',
      'tenant.create',
    ]);
    expect(entries[1]).toMatchObject({
      before: expect.objectContaining({ status: 'active' }),
      after: expect.objectContaining({ status: 'disabled' }),
    });
    expect(await services.audit.verify(null)).toMatchObject({ ok: true });
  });

  it('keeps one chain under concurrent writers', async () => {
    const db = await tenantDb();
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        appendAudit(db, 'audit_log', operator, {
          action: 'test.concurrent',
          targetType: 'test',
          targetId: String(i),
        }),
      ),
    );
    expect(await services.audit.verify('acme')).toEqual({ ok: true, count: 11 });
  });

  it('detects an edited or removed entry', async () => {
    const db = await tenantDb();
    await sql`update audit_log set actor_id = 'mallory' where seq = (select min(seq) from audit_log)`.execute(
      db,
    );
    expect(await services.audit.verify('acme')).toEqual({
      ok: false,
      index: 0,
      reason: 'hash_mismatch',
    });
    await sql`update audit_log set actor_id = 'ops-alice' where seq = (select min(seq) from audit_log)`.execute(
      db,
    );
    expect(await services.audit.verify('acme')).toMatchObject({ ok: true });
    await sql`delete from audit_log where seq = (select min(seq) + 1 from audit_log)`.execute(db);
    expect(await services.audit.verify('acme')).toEqual({
      ok: false,
      index: 1,
      reason: 'previous_hash_mismatch',
    });
  });
});
