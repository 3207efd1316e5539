import { type Kysely, sql, type Transaction } from 'kysely';
import {
  addPartitions,
  batches,
  type CopyPlan,
  copyPlan,
  type Leaf,
  renderAlike,
} from './tenant-copy.js';

/**
 * What changed in a tenant database since a snapshot, found by the rows' transaction ids
 * (`xmin`) instead of by reading and hashing every row, and written to the copy by primary
 * key. A move copies in bulk, catches up with rounds of these while the tenant serves, and
 * under its lock copies only what the last round missed: the pause no longer grows with the
 * tables that change, only with how many rows changed in the last moments.
 *
 * A row inserted or updated since the snapshot carries a transaction id not older than the
 * snapshot's oldest one (`xmin`). Ids are 32 bits and wrap, so "not older" is taken modulo
 * 2^32 within half the range, as PostgreSQL itself compares them (a row keeps its `xmin`
 * when it is frozen). Rows of transactions still running at the snapshot are newer too, so
 * a round copies some rows again, which is harmless.
 * A deleted row leaves no trace: a leaf whose row count differs after its changes are
 * applied has its keys compared (dropDeleted), or without a key is copied again whole.
 */

type Db = Kysely<unknown> | Transaction<unknown>;

/** Where a later round starts: the oldest transaction id the snapshot did not see as ended. */
async function snapshotXmin(trx: Transaction<unknown>): Promise<string> {
  const { rows } = await sql<{ xmin: string }>`
    select (pg_snapshot_xmin(pg_current_snapshot())::text::numeric % 4294967296)::text as xmin`.execute(
    trx,
  );
  return rows[0]?.xmin ?? '0';
}

/**
 * Runs `copy` in one snapshot of the source (repeatable read), with that snapshot's xmin and
 * tables, once the target has every partition the source has: the bulk copy and each round
 * of catching up.
 */
export async function inSnapshot<T>(
  source: Kysely<unknown>,
  target: Kysely<unknown>,
  copy: (snapshot: Transaction<unknown>, plan: CopyPlan, xmin: string) => Promise<T>,
): Promise<T> {
  return source
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (snapshot) => {
      const xmin = await snapshotXmin(snapshot);
      const plan = await copyPlan(snapshot);
      await addPartitions(target, plan.leaves);
      return copy(snapshot, plan, xmin);
    });
}

/** Each leaf's primary key columns; a leaf without one is missing from the map. */
export async function primaryKeys(db: Db): Promise<Map<string, string[]>> {
  const { rows } = await sql<{ leaf: string; column: string }>`
    select c.relname::text as leaf, a.attname::text as column
    from pg_catalog.pg_index i
    join pg_catalog.pg_class c on c.oid = i.indrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join lateral unnest(i.indkey) with ordinality k(attnum, position) on true
    join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
    where i.indisprimary and n.nspname = 'public'
    order by c.relname, k.position`.execute(db);
  const keys = new Map<string, string[]>();
  for (const { leaf, column } of rows) keys.set(leaf, [...(keys.get(leaf) ?? []), column]);
  return keys;
}

/** Rows of the leaf inserted or updated since `xmin` (see above). */
const newerThan = (xmin: string) =>
  sql`((t.xmin::text::bigint - ${xmin}::bigint) % 4294967296 + 4294967296) % 4294967296 < 2147483648`;

const CURSOR = 'tenant_delta_rows';
const BATCH_ROWS = 1000;

export interface Changes {
  /** Rows written to the copy. */
  rows: number;
  /** Leaves with changes but no primary key to apply them by: to be copied again whole. */
  unkeyed: string[];
}

/**
 * Writes the rows of `leaves` inserted or updated since `xmin` in the source to the target,
 * replacing the target's row of the same primary key.
 */
export async function copyChanges(
  source: Transaction<unknown>,
  target: Db,
  leaves: Leaf[],
  keys: Map<string, string[]>,
  xmin: string,
): Promise<Changes> {
  await renderAlike(source);
  const changes: Changes = { rows: 0, unkeyed: [] };
  for (const leaf of leaves) {
    const table = sql.id('public', leaf.name);
    const key = keys.get(leaf.name);
    if (key === undefined) {
      const { rows } =
        await sql`select 1 from only ${table} as t where ${newerThan(xmin)} limit 1`.execute(
          source,
        );
      if (rows.length > 0) changes.unkeyed.push(leaf.name);
      continue;
    }
    const columns = await columnsOf(source, leaf.name);
    const others = columns.filter((column) => !key.includes(column));
    const onConflict =
      others.length === 0
        ? sql`do nothing`
        : sql`do update set ${sql.join(others.map((c) => sql`${sql.id(c)} = excluded.${sql.id(c)}`))}`;
    await sql`declare ${sql.id(CURSOR)} no scroll cursor for
      select row_to_json(t)::text as row from only ${table} as t where ${newerThan(xmin)}`.execute(
      source,
    );
    for (;;) {
      const { rows } = await sql<{ row: string }>`
        fetch forward ${sql.lit(BATCH_ROWS)} from ${sql.id(CURSOR)}`.execute(source);
      for (const batch of batches(rows.map((r) => r.row))) {
        await sql`insert into ${table}
          select * from json_populate_recordset(null::${table}, ${`[${batch.join(',')}]`}::json)
          on conflict (${sql.join(key.map((c) => sql.id(c)))}) ${onConflict}`.execute(target);
        changes.rows += batch.length;
      }
      if (rows.length < BATCH_ROWS) break;
    }
    await sql`close ${sql.id(CURSOR)}`.execute(source);
  }
  return changes;
}

async function columnsOf(db: Db, leaf: string): Promise<string[]> {
  const { rows } = await sql<{ column: string }>`
    select a.attname::text as column from pg_catalog.pg_attribute a
    join pg_catalog.pg_class c on c.oid = a.attrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relname = ${leaf} and a.attnum > 0 and not a.attisdropped
      and a.attgenerated = ''
    order by a.attnum`.execute(db);
  return rows.map((row) => row.column);
}

/** Each leaf's row count. */
export async function rowCounts(db: Db, leaves: Leaf[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const leaf of leaves) {
    const { rows } = await sql<{ n: string }>`
      select count(*)::text as n from only ${sql.id('public', leaf.name)}`.execute(db);
    counts.set(leaf.name, Number(rows[0]?.n ?? 0));
  }
  return counts;
}

/**
 * Keys compared at most per leaf: both sides' are held in memory (some tens of bytes each);
 * a larger leaf is copied whole instead, as before keys were compared.
 */
const MAX_KEYS = 1_000_000;

/**
 * Deletes from the copy the rows of a keyed leaf that the source no longer has. A deleted row
 * leaves no transaction id to find it by, so both sides' keys are compared; only keys travel,
 * far less than copying the leaf whole when its rows are large (stored responses, which a
 * tenant deletes as they expire). Returns the rows deleted, or null when the comparison does
 * not hold together (a key of the source missing from the copy), the leaf has more than
 * MAX_KEYS rows, or the copy refuses the deletion (a key still pointing at the row): the
 * caller copies the leaf whole then.
 */
export async function dropDeleted(
  source: Transaction<unknown>,
  target: Transaction<unknown>,
  leaf: string,
  key: string[],
): Promise<number | null> {
  const table = sql.id('public', leaf);
  const keyText = sql`row(${sql.join(key.map((column) => sql.ref(`t.${column}`)))})::text`;
  const keysOf = async (db: Transaction<unknown>) => {
    await renderAlike(db);
    const { rows } = await sql<{ k: string }>`
      select ${keyText} as k from only ${table} as t limit ${MAX_KEYS + 1}`.execute(db);
    return rows.map((row) => row.k);
  };
  const copied = await keysOf(target);
  if (copied.length > MAX_KEYS) return null;
  const kept = new Set(await keysOf(source));
  const gone = copied.filter((k) => !kept.has(k));
  if (copied.length - gone.length !== kept.size) return null;
  if (gone.length === 0) return 0;
  await sql`savepoint drop_deleted`.execute(target);
  try {
    await sql`delete from only ${table} as t where ${keyText} = any(${gone}::text[])`.execute(
      target,
    );
    await sql`release savepoint drop_deleted`.execute(target);
    return gone.length;
  } catch {
    await sql`rollback to savepoint drop_deleted`.execute(target);
    return null;
  }
}

/**
 * dropDeleted over `leaves`: the rows it deleted, and the leaves it could not reconcile by
 * key (none, too large, keys that disagree, a refusal), for the caller to copy whole.
 */
export async function dropAllDeleted(
  source: Transaction<unknown>,
  target: Transaction<unknown>,
  leaves: Leaf[],
  keys: Map<string, string[]>,
): Promise<{ rows: number; whole: string[] }> {
  let rows = 0;
  const whole: string[] = [];
  for (const leaf of leaves) {
    const key = keys.get(leaf.name);
    const dropped = key === undefined ? null : await dropDeleted(source, target, leaf.name, key);
    if (dropped === null) whole.push(leaf.name);
    else rows += dropped;
  }
  return { rows, whole };
}
