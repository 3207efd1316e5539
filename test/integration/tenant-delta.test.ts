import { randomBytes } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresServer } from '../../src/storage/database-server.js';
import { type CopyPlan, copyRows } from '../../src/storage/tenant-copy.js';
import {
  copyChanges,
  dropDeleted,
  inSnapshot,
  primaryKeys,
  rowCounts,
} from '../../src/storage/tenant-delta.js';
import { eventually } from '../helpers/gateway.js';
import { TEST_DATABASE_URL } from '../helpers/services.js';

/**
 * The changes a tenant move copies while catching up and under its pause: rows changed since
 * a snapshot, found by transaction id and written by primary key; a deletion shows as a row
 * count that differs. Two real databases on the test server stand for the old and the new.
 */
const server = new PostgresServer(TEST_DATABASE_URL);
const suffix = randomBytes(3).toString('hex');
const [sourceName, targetName] = [`llmb_delta_a_${suffix}`, `llmb_delta_b_${suffix}`];
let source: Kysely<unknown>;
let target: Kysely<unknown>;

function urlOf(database: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

const items = async (db: Kysely<unknown>) =>
  (await sql<{ id: string; v: number }>`select id, v from items order by id`.execute(db)).rows;

/** The bulk copy of a move: every row in one snapshot, and that snapshot's xmin. */
async function bulk(): Promise<{ xmin: string; plan: CopyPlan }> {
  return inSnapshot(source, target, async (snapshot, plan, xmin) => {
    await target.transaction().execute((into) => copyRows(snapshot, into, plan.leaves));
    return { xmin, plan };
  });
}

/** Both databases as a test starts: the source with 50 items and a tag, the copy empty. */
async function reset(): Promise<void> {
  for (const db of [source, target]) await sql`truncate items, tags, owners, pets`.execute(db);
  await sql`insert into items select 'i' || g, g, '{"a": 1}' from generate_series(1, 50) g`.execute(
    source,
  );
  await sql`insert into tags values ('i1', 'red')`.execute(source);
  await settled();
}

/**
 * Until every transaction that began before now has ended, anywhere on the server. A
 * snapshot's xmin is the oldest transaction still running, and other test files share this
 * server: one of theirs running across reset's writes would make those rows count as changed
 * since the next snapshot. A move copies such rows again, harmlessly; the exact checks here
 * would fail on them.
 */
async function settled(): Promise<void> {
  const { rows } = await sql<{ xid: string }>`select pg_current_xact_id()::text as xid`.execute(
    source,
  );
  const now = rows[0]?.xid ?? '0';
  await eventually(async () => {
    const { rows: oldest } = await sql<{ later: boolean }>`
      select pg_snapshot_xmin(pg_current_snapshot()) > ${now}::xid8 as later`.execute(source);
    expect(oldest[0]?.later).toBe(true);
  }, 45_000);
}

/** One transaction on each side, as the pause holds them. */
function bothSides<T>(
  run: (now: Transaction<unknown>, into: Transaction<unknown>) => Promise<T>,
): Promise<T> {
  return source
    .transaction()
    .execute((now) => target.transaction().execute((into) => run(now, into)));
}

async function changesSince(xmin: string, plan: CopyPlan) {
  return source.transaction().execute(async (now) => {
    const keys = await primaryKeys(now);
    return target.transaction().execute((into) => copyChanges(now, into, plan.leaves, keys, xmin));
  });
}

beforeAll(async () => {
  await server.create(sourceName);
  await server.create(targetName);
  source = server.open<unknown>(sourceName, { maxConnections: 2 });
  target = server.open<unknown>(targetName, { maxConnections: 2 });
  for (const db of [source, target]) {
    await sql`create table items (id text primary key, v int not null, note jsonb)`.execute(db);
    await sql`create table tags (item text, tag text)`.execute(db);
    await sql`create table owners (id text primary key)`.execute(db);
    // No cascade: the copy refuses to drop an owner while a pet still points at it.
    await sql`create table pets (id text primary key, owner text references owners (id))`.execute(
      db,
    );
  }
});

afterAll(async () => {
  await source?.destroy();
  await target?.destroy();
  await server.drop(sourceName).catch(() => {});
  await server.drop(targetName).catch(() => {});
  await server.close();
});

// A test may wait for other files' transactions to end (see settled).
describe('copying what changed since a snapshot', { timeout: 60_000 }, () => {
  it('copies inserts and updates, even of a writer that began before the snapshot', async () => {
    await reset();
    // A writer that began before the snapshot and commits after it: its row is not in the
    // bulk copy, and its transaction id is older than anything started after the snapshot.
    const early = new pg.Client({ connectionString: urlOf(sourceName) });
    await early.connect();
    await early.query('begin');
    await early.query(`insert into items values ('early', 0, null)`);
    const { xmin, plan } = await bulk();
    await early.query('commit');
    await early.end();
    expect((await items(target)).length).toBe(50);

    await sql`insert into items values ('late', 99, null)`.execute(source);
    await sql`update items set v = -v where id in ('i2', 'i3')`.execute(source);
    const changes = await changesSince(xmin, plan);
    expect(changes.unkeyed).toEqual([]);
    // Every row of the source, with the same values, and nothing counted twice.
    expect(await items(target)).toEqual(await items(source));
    expect(changes.rows).toBeGreaterThanOrEqual(4);

    // Run again from the same point: the same rows again, the copy unchanged.
    await changesSince(xmin, plan);
    expect(await items(target)).toEqual(await items(source));
  });

  it('leaves a deletion to the row counts, and names a changed table without a primary key', async () => {
    await reset();
    const { xmin, plan } = await bulk();
    // Nothing changed since: the copy agrees with the source (a row of a transaction still
    // running elsewhere on the server at the snapshot may be copied again, harmlessly).
    expect(await changesSince(xmin, plan)).toMatchObject({ unkeyed: [] });
    expect(await rowCounts(target, plan.leaves)).toEqual(await rowCounts(source, plan.leaves));
    expect(await items(target)).toEqual(await items(source));

    await sql`delete from items where id = 'i4'`.execute(source);
    // A key changed: the old key's row stays behind on the copy, as a deleted one would.
    await sql`update items set id = 'i5b' where id = 'i5'`.execute(source);
    await sql`insert into tags values ('i2', 'blue')`.execute(source);
    const changes = await changesSince(xmin, plan);
    expect(changes.unkeyed).toEqual(['tags']);
    const [from, to] = [await rowCounts(source, plan.leaves), await rowCounts(target, plan.leaves)];
    // The copy has i4 and i5 still, and i5b: two more rows than the source.
    expect((to.get('items') ?? 0) - (from.get('items') ?? 0)).toBe(2);
    expect((await items(target)).map((row) => row.id)).toContain('i5b');
  });
  it('drops from the copy, by key, the rows the source deleted', async () => {
    await reset();
    await sql`insert into owners values ('o1'), ('o2')`.execute(source);
    await sql`insert into pets values ('p1', 'o1'), ('p2', 'o2')`.execute(source);
    const { plan } = await bulk();
    await sql`delete from items where id in ('i4', 'i7')`.execute(source);
    await sql`delete from pets where id = 'p2'`.execute(source);
    await sql`delete from owners where id = 'o2'`.execute(source);
    const dropped = await bothSides(async (now, into) => {
      const keys = await primaryKeys(now);
      const drop = (leaf: string) => dropDeleted(now, into, leaf, keys.get(leaf) ?? []);
      // The owner first: its pet still points at it on the copy, which refuses; the owner is
      // left for a whole copy, and the transaction goes on.
      const owner = await drop('owners');
      return {
        owner,
        pets: await drop('pets'),
        items: await drop('items'),
        again: await drop('owners'),
      };
    });
    expect(dropped).toEqual({ owner: null, pets: 1, items: 2, again: 1 });
    expect(await items(target)).toEqual(await items(source));
    expect(await rowCounts(target, plan.leaves)).toEqual(await rowCounts(source, plan.leaves));
    // Nothing left to drop: nothing happens.
    expect(await bothSides((now, into) => dropDeleted(now, into, 'items', ['id']))).toBe(0);
  });

  it('gives a leaf up to a whole copy when the copy lacks a key of the source', async () => {
    await reset();
    await bulk();
    // A row the copy never got (no round copied it), beside a deletion.
    await sql`insert into items values ('new', 1, null)`.execute(source);
    await sql`delete from items where id = 'i9'`.execute(source);
    expect(await bothSides((now, into) => dropDeleted(now, into, 'items', ['id']))).toBeNull();
    // Nothing was deleted from the copy on a comparison that did not hold together.
    expect((await items(target)).map((row) => row.id)).toContain('i9');
  });
});
