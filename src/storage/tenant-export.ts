import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { type Kysely, sql, type Transaction } from 'kysely';

/**
 * Kysely's migration bookkeeping: the applied names go into the header line instead. And the
 * semantic cache: copies of upstream answers kept for speed, like the exact cache in Redis
 * (not exported either), whose vectors would outweigh everything else in the file.
 */
const SKIPPED_TABLES = ['schema_migrations', 'schema_migrations_lock', 'semantic_cache_entries'];

/**
 * Columns never exported. They hold keyed hashes only, but a hash is worthless outside this
 * deployment, so there is no reason to ship it.
 */
const OMITTED_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  api_keys: ['key_hash', 'previous_key_hash'],
  // Sealed under this deployment's master key: nothing anyone else could open.
  webhook_endpoints: ['secret_sealed', 'previous_secret_sealed'],
  // The tenant's own provider keys: an export outlives the tenant, its keys must not.
  provider_keys: ['secret_sealed', 'data_key_sealed'],
};

const BATCH_ROWS = 500;
const CURSOR = 'tenant_export_rows';

export interface ExportedTenant {
  id: string;
  slug: string;
  name: string;
}

export interface ExportOptions {
  /** The export's time, in its header and its file name. */
  now?: Date;
  /** Stops the export; the partial file is removed and the call rejects. */
  signal?: AbortSignal;
}

interface Column {
  name: string;
  type: string;
  /** 1-based position in the primary key, 0 when not part of it. */
  key_position: number;
}

/** `20240131T093000Z`: sorts by time and is safe in a file name on every platform. */
function fileTimestamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

async function appliedMigrations(trx: Transaction<unknown>): Promise<string[]> {
  const { rows: exists } = await sql<{
    found: boolean;
  }>`select to_regclass('public.schema_migrations') is not null as found`.execute(trx);
  if (exists[0]?.found !== true) return [];
  const { rows } = await sql<{
    name: string;
  }>`select name from schema_migrations order by name`.execute(trx);
  return rows.map((row) => row.name);
}

/** From the catalog, so tables added by later migrations are exported without a change here. */
async function tables(trx: Transaction<unknown>): Promise<string[]> {
  // A partition's rows are read through its parent, so partitions are not listed twice.
  const { rows } = await sql<{ name: string }>`
    select c.relname::text as name
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
    order by c.relname`.execute(trx);
  return rows.map((row) => row.name).filter((name) => !SKIPPED_TABLES.includes(name));
}

async function columns(trx: Transaction<unknown>, table: string): Promise<Column[]> {
  const { rows } = await sql<Column>`
    select a.attname::text as name,
      format_type(a.atttypid, a.atttypmod) as type,
      coalesce((
        select k.position::int
        from pg_catalog.pg_index i, unnest(i.indkey) with ordinality as k(attnum, position)
        where i.indrelid = a.attrelid and i.indisprimary and k.attnum = a.attnum
      ), 0) as key_position
    from pg_catalog.pg_attribute a
    where a.attrelid = format('%I.%I', 'public', ${table}::text)::regclass
      and a.attnum > 0 and not a.attisdropped
    order by a.attnum`.execute(trx);
  return rows;
}

/**
 * The rows of one table as JSON text, a batch at a time through a cursor so a large table
 * never sits in memory. PostgreSQL renders the JSON itself, so every type (bigint, numeric,
 * bytea, arrays, jsonb) comes out the same on every driver and without loss of precision.
 */
async function* tableRows(
  trx: Transaction<unknown>,
  table: string,
  exported: Column[],
  key: Column[],
): AsyncGenerator<string> {
  // The ordering sits on the outer query: an ORDER BY inside a subquery is not guaranteed to
  // survive, and the key may include an omitted column.
  const source = sql.id('public', table);
  const picked = sql.join(exported.map((column) => sql.id('src', column.name)));
  const order =
    key.length === 0
      ? sql``
      : sql`order by ${sql.join(key.map((column) => sql.id('src', column.name)))}`;
  await sql`declare ${sql.id(CURSOR)} no scroll cursor for
    select row_to_json(r)::text as row
    from ${source} as src, lateral (select ${exported.length === 0 ? sql`` : picked}) as r
    ${order}`.execute(trx);
  for (;;) {
    const { rows } = await sql<{
      row: string;
    }>`fetch forward ${sql.lit(BATCH_ROWS)} from ${sql.id(CURSOR)}`.execute(trx);
    for (const { row } of rows) yield row;
    if (rows.length < BATCH_ROWS) break;
  }
  // Only on success: after a failure the transaction ends, and the cursor with it.
  await sql`close ${sql.id(CURSOR)}`.execute(trx);
}

async function* exportLines(
  trx: Transaction<unknown>,
  tenant: ExportedTenant,
  now: Date,
): AsyncGenerator<string> {
  // One snapshot for the whole file, and UTC timestamps whatever the server's time zone.
  await sql`set transaction isolation level repeatable read, read only`.execute(trx);
  await sql`set local time zone 'UTC'`.execute(trx);
  yield `${JSON.stringify({
    type: 'export',
    format_version: 1,
    tenant: { id: tenant.id, slug: tenant.slug, name: tenant.name },
    exported_at: now.toISOString(),
    schema_migrations: await appliedMigrations(trx),
  })}\n`;
  for (const table of await tables(trx)) {
    const all = await columns(trx, table);
    const omitted = OMITTED_COLUMNS[table] ?? [];
    const exported = all.filter((column) => !omitted.includes(column.name));
    const key = all
      .filter((column) => column.key_position > 0)
      .sort((a, b) => a.key_position - b.key_position);
    yield `${JSON.stringify({
      type: 'table',
      name: table,
      columns: exported.map(({ name, type }) => ({ name, type })),
      primary_key: key.map((column) => column.name),
    })}\n`;
    const prefix = `{"type":"row","table":${JSON.stringify(table)},"row":`;
    for await (const row of tableRows(trx, table, exported, key)) yield `${prefix}${row}}\n`;
  }
}

/**
 * Writes the whole tenant database to `<directory>/<slug>-<id>-<UTC time>.jsonl.gz` and
 * returns that path. The file appears under its final name only once it is complete and on
 * disk, so a crash or an error never leaves something that looks like a finished export.
 */
export async function exportTenantDatabase(
  db: Kysely<unknown>,
  tenant: ExportedTenant,
  directory: string,
  options: ExportOptions = {},
): Promise<string> {
  const now = options.now ?? new Date();
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const final = join(directory, `${tenant.slug}-${tenant.id}-${fileTimestamp(now)}.jsonl.gz`);
  const partial = join(
    directory,
    `.${tenant.slug}-${tenant.id}.${randomBytes(6).toString('hex')}.partial`,
  );
  // Opened here, not by the write stream: a stream opens its file later, so an export stopped
  // at once could create the file after the clean-up below had already run.
  const file = await open(partial, 'wx', 0o600);
  try {
    await db.transaction().execute(async (trx) => {
      await pipeline(
        Readable.from(exportLines(trx, tenant, now)),
        createGzip(),
        file.createWriteStream(),
        { signal: options.signal },
      );
    });
    // This file may soon be the only copy of the tenant's data: on disk before the rename.
    await sync(partial, 'r+');
    await rename(partial, final);
  } catch (error) {
    await file.close().catch(() => {});
    await rm(partial, { force: true });
    throw error;
  }
  // Makes the rename durable too. Not every platform can sync a directory, and the file is
  // complete either way, so this one is best effort.
  await sync(directory, 'r').catch(() => {});
  return final;
}

async function sync(path: string, flags: string): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
