import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runTenantCommand } from '../../src/cli/tenant-commands.js';
import { PURGE_LOCK_NAME, TenantReaper } from '../../src/services/tenancy/tenant-reaper.js';
import { type Tenant, TenantService } from '../../src/services/tenancy/tenant-service.js';
import { MIGRATION_NAMES } from '../../src/storage/migrations/index.js';
import { exportTenantDatabase } from '../../src/storage/tenant-export.js';
import { BACKENDS, type TestBackend } from '../helpers/databases.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

const GRACE_MS = 60_000;

interface ExportLine {
  type: 'export' | 'table' | 'row';
  name?: string;
  table?: string;
  row?: Record<string, unknown>;
  [field: string]: unknown;
}

/** The same cases on the PostgreSQL server and on embedded PGlite: they must not drift. */
describe.each(BACKENDS)('purging deleted tenants on %s', (kind) => {
  let services: TestServices;
  let backend: TestBackend;
  let tenants: TenantService;
  let root: string;
  let exportDirectory: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'llm-backend-purge-'));
    // Not there yet: the export creates it.
    exportDirectory = join(root, 'exports');
    services = await servicesOn(kind, { deletionGraceMs: GRACE_MS, exportDirectory });
    ({ backend, tenants } = services);
  }, 60_000);
  afterAll(async () => {
    await services?.close();
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  const exportsOf = (tenant: Tenant) =>
    readdirSync(exportDirectory).filter((name) => name.includes(tenant.id));

  /** Another purger over the same databases: a second instance on PostgreSQL. */
  async function secondPurger(): Promise<{ tenants: TenantService; close(): Promise<void> }> {
    if (kind === 'postgres') return servicesOn(kind, { backend, exportDirectory });
    // PGlite serves one process: a second purger there shares its open databases.
    const other = new TenantService({
      control: backend.control,
      connections: services.connections,
      deletionGraceMs: GRACE_MS,
      exportDirectory,
    });
    return { tenants: other, close: async () => {} };
  }

  async function purgeEntries(tenant: Tenant) {
    return backend.control
      .selectFrom('platform_audit_log')
      .selectAll()
      .where('action', '=', 'tenant.purge')
      .where('target_id', '=', tenant.id)
      .execute();
  }

  it('exports a deleted tenant completely, then drops it; the others stay', async () => {
    const acme = await tenants.create({ slug: 'acme', name: 'Acme Inc' });
    const globex = await tenants.create({ slug: 'globex', name: 'Globex' });
    const ann = await services.users.create('acme', {
      email: 'ann@acme.test',
      name: 'Ann',
      role: 'owner',
    });
    await services.users.create('acme', { email: 'bob@acme.test', name: 'Bob', role: 'member' });
    const { key } = await services.keys.create('acme', { name: 'ci', role: 'owner' });
    // A rotated key has both hashes set.
    await services.keys.rotate('acme', key.id, 3600);
    await services.users.create('globex', { email: 'gil@globex.test', name: 'Gil', role: 'admin' });
    const db = tenants.database(acme);
    const hashes = await db
      .selectFrom('api_keys')
      .select(['key_hash', 'previous_key_hash'])
      .execute();
    // A tenant's own provider key: its sealed forms stay behind too.
    await db
      .insertInto('provider_keys')
      .values({
        provider: 'openai',
        secret_sealed: 'd1.sealed-secret-stays',
        data_key_sealed: 'v1.sealed-data-key-stays',
        hint: 'x7Qa',
      })
      .execute();
    const auditIds = (await db.selectFrom('audit_log').select('id').orderBy('seq').execute()).map(
      (row) => row.id,
    );
    expect(auditIds.length).toBeGreaterThanOrEqual(4);

    const now = new Date();
    await tenants.delete('acme', now);
    expect(await tenants.purge(now)).toEqual({ purged: [], failed: [] });
    expect(await tenants.purge(new Date(now.getTime() + GRACE_MS))).toEqual({
      purged: [acme.id],
      failed: [],
    });

    const files = readdirSync(exportDirectory);
    expect(files).toEqual([
      expect.stringMatching(new RegExp(`^acme-${acme.id}-\\d{8}T\\d{6}Z\\.jsonl\\.gz$`)),
    ]);
    const file = join(exportDirectory, files[0] as string);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(exportDirectory).mode & 0o777).toBe(0o700);

    const text = gunzipSync(readFileSync(file)).toString('utf8');
    expect(text).not.toContain('key_hash');
    expect(text).not.toContain('sealed');
    for (const { key_hash, previous_key_hash } of hashes) {
      expect(text).not.toContain(key_hash);
      expect(previous_key_hash).not.toBeNull();
      expect(text).not.toContain(previous_key_hash);
    }
    const lines = text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as ExportLine);
    expect(lines[0]).toEqual({
      type: 'export',
      format_version: 1,
      tenant: { id: acme.id, slug: 'acme', name: 'Acme Inc' },
      exported_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      schema_migrations: MIGRATION_NAMES.tenant,
    });
    // Every row follows its own table's line.
    const rows: Record<string, Record<string, unknown>[]> = {};
    let current: string | undefined;
    for (const line of lines.slice(1)) {
      if (line.type === 'table') {
        current = line.name as string;
        rows[current] = [];
      } else {
        expect(line.type).toBe('row');
        expect(line.table).toBe(current);
        rows[current as string]?.push(line.row as Record<string, unknown>);
      }
    }
    // Every table of the tenant schema, empty ones too.
    expect(Object.keys(rows)).toEqual([
      'api_keys',
      'audit_log',
      'batch_lines',
      'batches',
      'cache_settings',
      'credits',
      'file_chunks',
      'files',
      'invoice_lines',
      'invoices',
      'price_plans',
      'provider_keys',
      'quotas',
      'rate_limits',
      'responses',
      'usage_records',
      'users',
      'webhook_attempts',
      'webhook_deliveries',
      'webhook_endpoints',
    ]);
    expect(rows.provider_keys).toEqual([
      expect.objectContaining({ provider: 'openai', hint: 'x7Qa' }),
    ]);
    expect(rows.quotas).toEqual([]);
    expect(rows.rate_limits).toEqual([]);
    expect(rows.usage_records).toEqual([]);
    expect(rows.users).toEqual([
      expect.objectContaining({ id: ann.id, email: 'ann@acme.test', role: 'owner' }),
      expect.objectContaining({ email: 'bob@acme.test', role: 'member' }),
    ]);
    expect(rows.api_keys).toEqual([expect.objectContaining({ id: key.id, name: 'ci' })]);
    expect(rows.api_keys?.[0]).not.toHaveProperty('previous_key_hash');
    expect(rows.audit_log?.map((row) => row.id)).toEqual(auditIds);
    expect(rows.audit_log?.map((row) => row.action)).toEqual(
      expect.arrayContaining(['user.create', 'api_key.create', 'api_key.rotate']),
    );

    expect(await backend.server.exists(acme.databaseName)).toBe(false);
    await expect(tenants.get('acme')).rejects.toMatchObject({ code: 'tenant_not_found' });
    const [entry, ...more] = await purgeEntries(acme);
    expect(more).toEqual([]);
    expect(entry?.after).toMatchObject({ id: acme.id, export_file: files[0] });
    expect(JSON.stringify(entry)).not.toContain(root);

    expect(await backend.server.exists(globex.databaseName)).toBe(true);
    expect((await tenants.get('globex')).status).toBe('active');
    expect(await services.users.list('globex')).toEqual([
      expect.objectContaining({ email: 'gil@globex.test' }),
    ]);
  }, 60_000);

  it('keeps a tenant whose export fails, and purges it once exporting works', async () => {
    const initech = await tenants.create({ slug: 'initech', name: 'Initech' });
    await services.users.create('initech', {
      email: 'pete@initech.test',
      name: 'Peter',
      role: 'owner',
    });
    // Deleted long enough ago that a purge at the real time (the CLI's) finds it due.
    const deleted = await tenants.delete('initech', new Date(Date.now() - GRACE_MS - 1000));
    const blocker = join(root, 'a-file-not-a-directory');
    writeFileSync(blocker, 'in the way');
    const broken = new TenantService({
      control: backend.control,
      connections: services.connections,
      deletionGraceMs: GRACE_MS,
      exportDirectory: blocker,
    });

    expect(await broken.purge()).toEqual({
      purged: [],
      failed: [{ id: initech.id, error: expect.any(String) }],
    });
    expect(await backend.server.exists(initech.databaseName)).toBe(true);
    const kept = await tenants.get('initech');
    expect(kept.status).toBe('deleting');
    expect(kept.deleteAfter).toEqual(deleted.deleteAfter);
    expect(await purgeEntries(initech)).toEqual([]);

    const lines: string[] = [];
    await expect(
      runTenantCommand(['purge'], broken, { line: (text) => lines.push(text) }),
    ).rejects.toMatchObject({ code: 'internal_error' });
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^not purged ${initech.id}: `))]);

    expect(await tenants.purge()).toEqual({ purged: [initech.id], failed: [] });
    expect(await backend.server.exists(initech.databaseName)).toBe(false);
    expect(exportsOf(initech)).toHaveLength(1);
    expect(await purgeEntries(initech)).toHaveLength(1);
  }, 60_000);

  it('leaves no file behind when an export stops half-way', async () => {
    const globex = await tenants.get('globex');
    await expect(
      exportTenantDatabase(tenants.database(globex) as Kysely<unknown>, globex, exportDirectory, {
        signal: AbortSignal.abort(),
      }),
    ).rejects.toThrow();
    expect(exportsOf(globex)).toEqual([]);
    expect(readdirSync(exportDirectory).every((name) => name.endsWith('.jsonl.gz'))).toBe(true);
  }, 60_000);

  it('exports and drops each tenant once when purges run at the same time', async () => {
    const hooli = await tenants.create({ slug: 'hooli', name: 'Hooli' });
    const umbrella = await tenants.create({ slug: 'umbrella', name: 'Umbrella' });
    await services.users.create('hooli', { email: 'gav@hooli.test', name: 'Gavin', role: 'owner' });
    const now = new Date();
    await tenants.delete('hooli', now);
    await tenants.delete('umbrella', now);
    const due = new Date(now.getTime() + GRACE_MS);
    const other = await secondPurger();
    try {
      const results = await Promise.all([
        tenants.purge(due),
        other.tenants.purge(due),
        tenants.purge(due),
      ]);
      expect(results.flatMap((result) => result.failed)).toEqual([]);
      expect(results.flatMap((result) => result.purged).sort()).toEqual(
        [hooli.id, umbrella.id].sort(),
      );
    } finally {
      await other.close();
    }
    for (const tenant of [hooli, umbrella]) {
      expect(exportsOf(tenant)).toHaveLength(1);
      expect(await purgeEntries(tenant)).toHaveLength(1);
      expect(await backend.server.exists(tenant.databaseName)).toBe(false);
    }
    expect(await tenants.purge(due)).toEqual({ purged: [], failed: [] });
  }, 60_000);

  it('purges on a schedule, one instance at a time, logging rather than throwing', async () => {
    const wayne = await tenants.create({ slug: 'wayne', name: 'Wayne' });
    await tenants.delete('wayne', new Date(Date.now() - GRACE_MS - 1000));
    const log = { info: vi.fn(), error: vi.fn() };
    const reaper = new TenantReaper({
      tenants,
      control: backend.control,
      shared: kind === 'postgres',
      log,
    });
    if (kind === 'postgres') {
      // Another instance holds the purge lock: this one leaves the tenant alone.
      await backend.control.connection().execute(async (connection) => {
        await sql`select pg_advisory_lock(hashtext(${PURGE_LOCK_NAME}))`.execute(connection);
        try {
          await reaper.run();
        } finally {
          await sql`select pg_advisory_unlock(hashtext(${PURGE_LOCK_NAME}))`.execute(connection);
        }
      });
      expect(await backend.server.exists(wayne.databaseName)).toBe(true);
    }
    // start() purges at once, then every interval; run() joins the purge in progress.
    reaper.start();
    await reaper.run();
    await reaper.stop();
    expect(await backend.server.exists(wayne.databaseName)).toBe(false);
    expect(exportsOf(wayne)).toHaveLength(1);
    expect(log.info).toHaveBeenCalledWith({ purged: [wayne.id] }, expect.any(String));
    expect(log.error).not.toHaveBeenCalled();

    const failing = new TenantReaper({
      tenants: { purge: () => Promise.reject(new Error('boom')) } as unknown as TenantService,
      control: backend.control,
      shared: false,
      log,
    });
    await expect(failing.run()).resolves.toBeUndefined();
    expect(log.error).toHaveBeenCalledWith(
      { err: expect.objectContaining({ message: 'boom' }) },
      expect.any(String),
    );
  }, 60_000);
});
