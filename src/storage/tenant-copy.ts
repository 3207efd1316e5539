import { type Kysely, sql, type Transaction } from 'kysely';

/**
 * Copying a tenant database's rows to an empty copy of its schema on another server, over
 * plain SQL on the two connections (no pg_dump, whose version would have to match the
 * servers'). PostgreSQL renders each row as JSON on one side and reads it back with
 * json_populate_recordset on the other, so every type (bigint, numeric, bytea, arrays, jsonb,
 * vectors) arrives as it was.
 *
 * The unit is a leaf table: a plain table or one partition of a partitioned one, so a delta
 * re-copies this month's usage partition, not the years before it.
 */

/**
 * Migration bookkeeping (both sides are migrated by the same code) and the semantic cache:
 * copies of upstream answers, refilled as requests come, like the exported database leaves
 * them out.
 */
const SKIPPED = ['schema_migrations', 'schema_migrations_lock', 'semantic_cache_entries'];

/** Rows per insert, and the most JSON text one insert carries. */
const BATCH_ROWS = 1000;
const BATCH_BYTES = 4 * 1024 * 1024;
const CURSOR = 'tenant_copy_rows';

export interface Leaf {
  name: string;
  /** The partitioned table it is a partition of; null: a plain table. */
  parent: string | null;
  /** `FOR VALUES ...`, for a partition. */
  bound: string | null;
}

export interface CopyPlan {
  /** Every leaf, each after the tables it references. */
  leaves: Leaf[];
  /** Per table (leaf or parent), the tables whose foreign keys point at it. */
  referencedBy: Map<string, Set<string>>;
}

/** A leaf's fingerprint: its row count and a sum of its rows' hashes, order-independent. */
export type Checksums = Map<string, string>;

type Db = Kysely<unknown> | Transaction<unknown>;

/** The leaves and the foreign keys between tables, read from the catalog. */
export async function copyPlan(db: Db): Promise<CopyPlan> {
  const { rows: tables } = await sql<{ name: string; parent: string | null; bound: string | null }>`
    select c.relname::text as name,
      p.relname::text as parent,
      case when c.relispartition then pg_get_expr(c.relpartbound, c.oid) end as bound
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    left join pg_catalog.pg_inherits i on i.inhrelid = c.oid
    left join pg_catalog.pg_class p on p.oid = i.inhparent
    where n.nspname = 'public' and c.relkind = 'r'
    order by c.relname`.execute(db);
  const { rows: keys } = await sql<{ child: string; referenced: string }>`
    select distinct c.relname::text as child, r.relname::text as referenced
    from pg_catalog.pg_constraint k
    join pg_catalog.pg_class c on c.oid = k.conrelid
    join pg_catalog.pg_class r on r.oid = k.confrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where k.contype = 'f' and n.nspname = 'public' and c.relname <> r.relname`.execute(db);
  const referencedBy = new Map<string, Set<string>>();
  const references = new Map<string, Set<string>>();
  for (const { child, referenced } of keys) {
    if (!referencedBy.has(referenced)) referencedBy.set(referenced, new Set());
    referencedBy.get(referenced)?.add(child);
    if (!references.has(child)) references.set(child, new Set());
    references.get(child)?.add(referenced);
  }
  const leaves = tables.filter((table) => !SKIPPED.includes(table.parent ?? table.name));
  return { leaves: ordered(leaves, references), referencedBy };
}

/** Each leaf after the leaves of the tables it references (the keys form no cycle). */
function ordered(leaves: Leaf[], references: Map<string, Set<string>>): Leaf[] {
  const result: Leaf[] = [];
  const placed = new Set<string>();
  const visit = (leaf: Leaf, path: Set<string>) => {
    if (placed.has(leaf.name) || path.has(leaf.name)) return;
    path.add(leaf.name);
    const own = references.get(leaf.name) ?? new Set<string>();
    const inherited = leaf.parent === null ? new Set<string>() : references.get(leaf.parent);
    for (const table of [...own, ...(inherited ?? [])]) {
      for (const dependency of leaves.filter((l) => (l.parent ?? l.name) === table))
        visit(dependency, path);
    }
    placed.add(leaf.name);
    result.push(leaf);
  };
  for (const leaf of leaves) visit(leaf, new Set());
  return result;
}

/**
 * The leaves to re-copy when `changed` did: truncating a table needs every table whose keys
 * point at it truncated with it, so those are copied again too.
 */
export function withReferencing(plan: CopyPlan, changed: Iterable<string>): Leaf[] {
  const names = new Set(changed);
  const tableOf = (leaf: Leaf) => leaf.parent ?? leaf.name;
  for (let grew = true; grew; ) {
    grew = false;
    for (const leaf of plan.leaves) {
      if (names.has(leaf.name)) continue;
      const pointsAtChanged = plan.leaves.some(
        (other) =>
          names.has(other.name) &&
          (plan.referencedBy.get(tableOf(other))?.has(tableOf(leaf)) ?? false),
      );
      if (pointsAtChanged) {
        names.add(leaf.name);
        grew = true;
      }
    }
  }
  return plan.leaves.filter((leaf) => names.has(leaf.name));
}

/**
 * The settings a row's text depends on (time zone, date, interval, float and bytea output),
 * the same on both servers for this transaction: rows are copied, hashed and their keys
 * compared as text.
 */
export async function renderAlike(trx: Transaction<unknown>): Promise<void> {
  // set_config(..., true) is SET LOCAL: one round trip for all of them.
  await sql`select set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, MDY', true),
    set_config('IntervalStyle', 'postgres', true), set_config('extra_float_digits', '1', true),
    set_config('bytea_output', 'hex', true)`.execute(trx);
}

/**
 * Each leaf's fingerprint, its rows rendered alike on both servers (renderAlike); call inside
 * a transaction for one snapshot of every leaf.
 */
export async function checksums(trx: Transaction<unknown>, leaves: Leaf[]): Promise<Checksums> {
  await renderAlike(trx);
  const sums: Checksums = new Map();
  for (const leaf of leaves) {
    const { rows } = await sql<{ sum: string }>`
      select count(*)::text || ':' || coalesce(sum(
        ('x' || substr(md5(row_to_json(t)::text), 1, 16))::bit(64)::bigint::numeric), 0)::text as sum
      from only ${sql.id('public', leaf.name)} as t`.execute(trx);
    sums.set(leaf.name, rows[0]?.sum ?? '');
  }
  return sums;
}

/** The partitions the target lacks, made as the source has them, before rows go in. */
export async function addPartitions(target: Db, leaves: Leaf[]): Promise<void> {
  const { rows } = await sql<{ name: string }>`
    select c.relname::text as name from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'r'`.execute(target);
  const present = new Set(rows.map((row) => row.name));
  for (const leaf of leaves) {
    if (leaf.parent === null || leaf.bound === null || present.has(leaf.name)) continue;
    await sql`create table ${sql.id('public', leaf.name)} partition of ${sql.id('public', leaf.parent)}
      ${sql.raw(leaf.bound)}`.execute(target);
  }
}

/** Empties the leaves on the target (all at once: some point at others). */
export async function truncate(target: Db, leaves: Leaf[]): Promise<void> {
  if (leaves.length === 0) return;
  await sql`truncate ${sql.join(leaves.map((leaf) => sql.id('public', leaf.name)))}`.execute(
    target,
  );
}

/**
 * Streams the rows of `leaves`, in order, from the source transaction into the target, a
 * batch at a time through a cursor; returns how many rows went over.
 */
export async function copyRows(
  source: Transaction<unknown>,
  target: Db,
  leaves: Leaf[],
): Promise<number> {
  await renderAlike(source);
  let copied = 0;
  for (const leaf of leaves) {
    await sql`declare ${sql.id(CURSOR)} no scroll cursor for
      select row_to_json(t)::text as row from only ${sql.id('public', leaf.name)} as t`.execute(
      source,
    );
    for (;;) {
      const { rows } = await sql<{ row: string }>`
        fetch forward ${sql.lit(BATCH_ROWS)} from ${sql.id(CURSOR)}`.execute(source);
      for (const batch of batches(rows.map((r) => r.row))) {
        await sql`insert into ${sql.id('public', leaf.name)}
          select * from json_populate_recordset(null::${sql.id('public', leaf.name)}, ${`[${batch.join(',')}]`}::json)`.execute(
          target,
        );
        copied += batch.length;
      }
      if (rows.length < BATCH_ROWS) break;
    }
    await sql`close ${sql.id(CURSOR)}`.execute(source);
  }
  return copied;
}

/** Rows split so no insert carries much more than BATCH_BYTES of JSON (files hold blobs). */
export function* batches(rows: string[]): Generator<string[]> {
  let batch: string[] = [];
  let bytes = 0;
  for (const row of rows) {
    if (batch.length > 0 && bytes + row.length > BATCH_BYTES) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(row);
    bytes += row.length;
  }
  if (batch.length > 0) yield batch;
}

/** The target's sequences set to where the source's are, so new ids never collide. */
export async function copySequences(source: Db, target: Db): Promise<void> {
  const { rows } = await sql<{ name: string; value: string | null }>`
    select sequencename::text as name, last_value::text as value
    from pg_catalog.pg_sequences where schemaname = 'public'`.execute(source);
  for (const { name, value } of rows) {
    if (value === null) continue;
    await sql`select setval(${`public.${quoteIdent(name)}`}::regclass, ${value}::bigint, true)`.execute(
      target,
    );
  }
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** The migrations applied to a database, in order. */
export async function appliedMigrations(db: Db): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select name from schema_migrations order by name`.execute(db);
  return rows.map((row) => row.name);
}

/** Every table of the leaves, parents included, for one LOCK statement. */
export function lockTargets(leaves: Leaf[]): string[] {
  return [...new Set(leaves.map((leaf) => leaf.parent ?? leaf.name))];
}
