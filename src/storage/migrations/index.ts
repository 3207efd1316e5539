import { type Kysely, type Migration, type MigrationResultSet, Migrator } from 'kysely';
import * as control0001 from './control/0001-init.js';
import * as control0002 from './control/0002-platform-keys.js';
import * as control0003 from './control/0003-tenant-servers.js';
import * as control0004 from './control/0004-tenant-allowed-models.js';
import * as control0005 from './control/0005-invoice-numbers.js';
import * as tenant0001 from './tenant/0001-init.js';
import * as tenant0002 from './tenant/0002-rate-limits.js';
import * as tenant0003 from './tenant/0003-usage-records.js';
import * as tenant0004 from './tenant/0004-quotas.js';
import * as tenant0005 from './tenant/0005-webhooks.js';
import * as tenant0006 from './tenant/0006-usage-indexes.js';
import * as tenant0007 from './tenant/0007-user-allowed-models.js';
import * as tenant0008 from './tenant/0008-provider-keys.js';
import * as tenant0009 from './tenant/0009-response-cache.js';
import * as tenant0010 from './tenant/0010-semantic-cache.js';
import * as tenant0011 from './tenant/0011-semantic-cache-settings.js';
import * as tenant0012 from './tenant/0012-billing.js';
import * as tenant0013 from './tenant/0013-charge-quotas.js';
import * as tenant0014 from './tenant/0014-responses.js';
import * as tenant0015 from './tenant/0015-files.js';
import * as tenant0016 from './tenant/0016-batches.js';

/**
 * Versioned migrations, in the repository and in order. Kysely's migrator records them per
 * database, holds an advisory lock while it runs (so instances starting together take turns)
 * and runs pending ones in a transaction, so a failed run leaves nothing half applied.
 */
const controlMigrations: Record<string, Migration> = {
  '0001-init': control0001,
  '0002-platform-keys': control0002,
  '0003-tenant-servers': control0003,
  '0004-tenant-allowed-models': control0004,
  '0005-invoice-numbers': control0005,
};
const tenantMigrations: Record<string, Migration> = {
  '0001-init': tenant0001,
  '0002-rate-limits': tenant0002,
  '0003-usage-records': tenant0003,
  '0004-quotas': tenant0004,
  '0005-webhooks': tenant0005,
  '0006-usage-indexes': tenant0006,
  '0007-user-allowed-models': tenant0007,
  '0008-provider-keys': tenant0008,
  '0009-response-cache': tenant0009,
  '0010-semantic-cache': tenant0010,
  '0011-semantic-cache-settings': tenant0011,
  '0012-billing': tenant0012,
  '0013-charge-quotas': tenant0013,
  '0014-responses': tenant0014,
  '0015-files': tenant0015,
  '0016-batches': tenant0016,
};

/** Every migration's name, in order, per schema. */
export const MIGRATION_NAMES = {
  control: Object.keys(controlMigrations),
  tenant: Object.keys(tenantMigrations),
} as const;

export type Schema = 'control' | 'tenant';

export class MigrationError extends Error {
  constructor(
    readonly migration: string | null,
    options: { cause: unknown },
  ) {
    super(`migration ${migration ?? '(setup)'} failed`, options);
    this.name = 'MigrationError';
  }
}

/** Applies every pending migration; returns the names applied now (none when up to date). */
export async function migrateToLatest(db: Kysely<unknown>, schema: Schema): Promise<string[]> {
  const migrations = schema === 'control' ? controlMigrations : tenantMigrations;
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'schema_migrations',
    migrationLockTableName: 'schema_migrations_lock',
  });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error !== undefined) {
    const failed = result.results?.find((item) => item.status === 'Error');
    throw new MigrationError(failed?.migrationName ?? null, { cause: result.error });
  }
  return (result.results ?? []).map((item) => item.migrationName);
}
