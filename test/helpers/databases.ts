import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import pg from 'pg';
import type { ControlSchema } from '../../src/storage/control-schema.js';
import {
  type DatabaseServer,
  isDatabaseName,
  PGliteServer,
  PostgresServer,
} from '../../src/storage/database-server.js';
import { migrateToLatest } from '../../src/storage/migrations/index.js';
import { TEST_CACHE_VARIABLE, TEST_DATABASE_URL } from './services.js';

/**
 * One blank PGlite directory for every test backend (PGlite's initdb takes seconds, a copy
 * much less), kept between runs in the test cache and per PGlite version, so an upgrade
 * never reuses an old one.
 */
const PGLITE_VERSION = (
  JSON.parse(
    readFileSync(
      new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url),
      'utf8',
    ),
  ) as { version: string }
).version;
const SHARED_PGLITE_TEMPLATE = join(
  process.env[TEST_CACHE_VARIABLE] ?? join(tmpdir(), 'llm-backend-test-cache'),
  `pglite-${PGLITE_VERSION}`,
);

export type BackendKind = 'postgres' | 'pglite';
export const BACKENDS: BackendKind[] = ['postgres', 'pglite'];

export interface TestBackend {
  kind: BackendKind;
  server: DatabaseServer;
  control: Kysely<ControlSchema>;
  /** The control plane's DATABASE_URL (PostgreSQL only). */
  url: string | null;
  /** Drops every database the backend created (control plane and tenants). */
  destroy(): Promise<void>;
}

/**
 * A fresh, migrated control plane: on PostgreSQL a uniquely named database (tenant databases
 * share its name as prefix), on PGlite a temporary directory.
 */
export async function createBackend(
  kind: BackendKind,
  options: { databaseName?: string } = {},
): Promise<TestBackend> {
  if (kind === 'pglite') {
    const root = mkdtempSync(join(tmpdir(), 'llm-backend-pglite-'));
    const server = new PGliteServer(root, { templateDirectory: SHARED_PGLITE_TEMPLATE });
    await server.prepare();
    const control = server.open<ControlSchema>(null);
    await migrateToLatest(control as Kysely<unknown>, 'control');
    return {
      kind,
      server,
      control,
      url: null,
      destroy: async () => {
        await control.destroy();
        rmSync(root, { recursive: true, force: true });
      },
    };
  }
  const name = options.databaseName ?? `llmb_test_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`create database "${name.replaceAll('"', '""')}"`);
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  const server = new PostgresServer(url.toString());
  const control = server.open<ControlSchema>(null);
  await migrateToLatest(control as Kysely<unknown>, 'control');
  return {
    kind,
    server,
    control,
    url: url.toString(),
    destroy: async () => {
      // Tenant databases carry the control database's name as prefix only where it was a
      // valid, short enough name: the registry knows the others.
      const registered = await control
        .selectFrom('tenants')
        .select('database_name')
        .where('server', 'is', null)
        .execute()
        .catch(() => []);
      await control.destroy();
      const { rows } = await admin.query<{ datname: string }>(
        "select datname from pg_database where datname like $1 || '%' and datname <> $1",
        [name],
      );
      const tenantDatabases = new Set([
        ...rows.map((row) => row.datname),
        // A name PostgreSQL refused was never created.
        ...registered.map((row) => row.database_name).filter(isDatabaseName),
      ]);
      for (const database of tenantDatabases) await server.drop(database);
      await server.close();
      if (isDatabaseName(name)) {
        const cleaner = new PostgresServer(TEST_DATABASE_URL);
        await cleaner.drop(name);
        await cleaner.close();
      } else {
        // A name we would never generate (capitals, say), so not one drop() accepts.
        await admin.query(`drop database if exists "${name.replaceAll('"', '""')}" with (force)`);
      }
      await admin.end();
    },
  };
}
