import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMigrate } from '../../src/cli/tenant-commands.js';
import { loadConfig } from '../../src/config/load.js';
import { closeGracefully, startServer } from '../../src/server.js';
import { MIGRATION_NAMES } from '../../src/storage/migrations/index.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

/**
 * A tenant database left at an older schema, as an upgrade finds it: the newest tenant
 * migration undone by hand.
 */
async function downgrade(services: TestServices, slug: string): Promise<string> {
  const db = services.tenants.database(await services.tenants.get(slug));
  const newest = MIGRATION_NAMES.tenant.at(-1) as string;
  // What each migration created, to undo the newest one.
  const created: Record<
    string,
    {
      tables?: string[];
      indexes?: string[];
      columns?: [table: string, column: string][];
      /** A check constraint as it was before: its name, table and condition. */
      check?: [name: string, table: string, condition: string];
    }
  > = {
    '0002-rate-limits': { tables: ['rate_limits'] },
    '0003-usage-records': { tables: ['usage_records'] },
    '0004-quotas': { tables: ['quotas'] },
    '0005-webhooks': { tables: ['webhook_attempts', 'webhook_deliveries', 'webhook_endpoints'] },
    '0006-usage-indexes': { indexes: ['usage_records_key_at', 'usage_records_user_at'] },
    '0007-user-allowed-models': { columns: [['users', 'allowed_models']] },
    '0008-provider-keys': { tables: ['provider_keys'] },
    '0009-response-cache': {
      tables: ['cache_settings'],
      columns: [
        ['usage_records', 'cache_hit'],
        ['usage_records', 'saved_cost'],
      ],
    },
    '0010-semantic-cache': { tables: ['semantic_cache_entries'] },
    '0011-semantic-cache-settings': { columns: [['cache_settings', 'semantic']] },
    '0012-billing': {
      tables: ['invoice_lines', 'invoices', 'credits', 'price_plans'],
      indexes: ['usage_records_unbilled'],
      columns: [
        'byok',
        'price_plan_id',
        'charge_basis',
        'charge_input_micros',
        'charge_cached_micros',
        'charge_output_micros',
        'charge_other_micros',
        'invoice_id',
      ].map((column): [string, string] => ['usage_records', column]),
    },
    '0013-charge-quotas': {
      check: ['quotas_metric_check', 'quotas', "metric in ('tokens', 'cost')"],
    },
    '0014-responses': { tables: ['responses'] },
    '0015-files': { tables: ['file_chunks', 'files'] },
    '0016-batches': {
      tables: ['batch_lines', 'batches'],
      columns: [['usage_records', 'batch']],
    },
  };
  const undo = created[newest];
  if (undo === undefined) throw new Error(`teach this test to undo ${newest}`);
  for (const table of undo.tables ?? []) await sql`drop table ${sql.table(table)}`.execute(db);
  for (const index of undo.indexes ?? []) await sql`drop index ${sql.ref(index)}`.execute(db);
  for (const [table, column] of undo.columns ?? [])
    await sql`alter table ${sql.table(table)} drop column ${sql.ref(column)}`.execute(db);
  if (undo.check !== undefined) {
    const [name, table, condition] = undo.check;
    await sql`alter table ${sql.table(table)} drop constraint ${sql.ref(name)}`.execute(db);
    await sql`alter table ${sql.table(table)} add constraint ${sql.ref(name)} check (${sql.raw(condition)})`.execute(
      db,
    );
  }
  await sql`delete from schema_migrations where name = ${newest}`.execute(db);
  return newest;
}

async function applied(services: TestServices, slug: string): Promise<string[]> {
  const db = services.tenants.database(await services.tenants.get(slug));
  const { rows } = await sql<{
    name: string;
  }>`select name from schema_migrations order by name`.execute(db);
  return rows.map((row) => row.name);
}

describe('upgrading tenant databases', () => {
  let services: TestServices;

  beforeAll(async () => {
    services = await servicesOn('postgres');
    await services.tenants.create({ slug: 'old', name: 'Old' });
    await services.tenants.create({ slug: 'current', name: 'Current' });
  }, 60_000);
  afterAll(() => services?.close(), 60_000);

  it("'migrate' applies what a tenant lacks and says so", async () => {
    const newest = await downgrade(services, 'old');
    const lines: string[] = [];
    await runMigrate(services.tenants, { line: (text) => lines.push(text) });
    expect(lines).toContain(`tenant 1/2 old: applied ${newest}`);
    expect(lines).toContain('tenant 2/2 current: up to date');
    expect(await applied(services, 'old')).toEqual(MIGRATION_NAMES.tenant);
  });

  it('the server brings every tenant up to date before it listens', async () => {
    await downgrade(services, 'old');
    const config = loadConfig({
      DATABASE_URL: services.backend.url ?? '',
      MASTER_KEY: 'upgrade-test-master-key-0123456789',
      PORT: '0',
      LOG_LEVEL: 'silent',
    });
    const { app } = await startServer(config);
    try {
      expect(await applied(services, 'old')).toEqual(MIGRATION_NAMES.tenant);
      expect(await applied(services, 'current')).toEqual(MIGRATION_NAMES.tenant);
    } finally {
      await closeGracefully(app, 1000);
    }
  }, 60_000);
});
