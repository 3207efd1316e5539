import type { Kysely } from 'kysely';
import { checksums, copyRows, truncate, withReferencing } from '../../storage/tenant-copy.js';
import {
  copyChanges,
  dropAllDeleted,
  inSnapshot,
  primaryKeys,
} from '../../storage/tenant-delta.js';
import type { Move } from './tenant-move-types.js';

/**
 * Between the bulk copy and the pause (see tenant-move.ts): rounds that copy what changed
 * since the round before, while the tenant serves, until a round finds little; then one
 * round that also compares every table's fingerprint with the source's in the same snapshot,
 * drops by key the rows deleted meanwhile, and copies whole the tables that still differ. What
 * the pause is left with is what changed after that last snapshot.
 */

/** Rounds at most before the verifying one: a tenant writing faster than a round copies still moves. */
const ROUNDS = 5;
/** A round that copied fewer rows than this is close enough: the next one is the last. */
const FEW_ROWS = 500;

/** Returns the last round's snapshot xmin (what the pause copies changes since) and rows copied. */
export async function catchUp(
  m: Move,
  oldDb: Kysely<unknown>,
  newDb: Kysely<unknown>,
  since: string,
): Promise<{ xmin: string; rows: number }> {
  let xmin = since;
  let rows = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const result = await changesSince(oldDb, newDb, xmin, false);
    xmin = result.xmin;
    rows += result.rows;
    if (result.rows < FEW_ROWS) break;
  }
  const last = await changesSince(oldDb, newDb, xmin, true);
  rows += last.rows;
  m.progress(`copied ${rows} changed rows again while the tenant kept serving`);
  return { xmin: last.xmin, rows };
}

/**
 * One round in one snapshot of the source: the rows changed since `xmin`; with `verify`, then
 * every table's fingerprint on both sides, rows deleted dropped by key, and the tables that
 * still differ copied again whole.
 */
async function changesSince(
  oldDb: Kysely<unknown>,
  newDb: Kysely<unknown>,
  xmin: string,
  verify: boolean,
): Promise<{ xmin: string; rows: number }> {
  return inSnapshot(oldDb, newDb, async (snapshot, plan, next) => {
    const keys = await primaryKeys(snapshot);
    const changes = await newDb
      .transaction()
      .execute((into) => copyChanges(snapshot, into, plan.leaves, keys, xmin));
    let rows = changes.rows;
    if (!verify) return { xmin: next, rows };
    const source = await checksums(snapshot, plan.leaves);
    const copied = await newDb.transaction().execute((into) => checksums(into, plan.leaves));
    const differing = plan.leaves.filter((leaf) => copied.get(leaf.name) !== source.get(leaf.name));
    // Rows deleted meanwhile, dropped by key where the keys agree (see dropDeleted); what
    // still differs after that is copied again whole.
    const whole = await newDb.transaction().execute(async (into) => {
      const dropped = await dropAllDeleted(snapshot, into, differing, keys);
      rows += dropped.rows;
      const after = await checksums(into, differing);
      const still = differing.filter((leaf) => after.get(leaf.name) !== source.get(leaf.name));
      return [...new Set([...dropped.whole, ...still.map((leaf) => leaf.name)])];
    });
    const redo = withReferencing(plan, whole);
    rows += await newDb.transaction().execute(async (into) => {
      await truncate(into, redo);
      return copyRows(snapshot, into, redo);
    });
    const again = await newDb.transaction().execute((into) => checksums(into, redo));
    const still = redo.filter((leaf) => again.get(leaf.name) !== source.get(leaf.name));
    if (still.length > 0) {
      throw new Error(
        `the copy differs from the source in ${still.map((leaf) => leaf.name).join(', ')}`,
      );
    }
    return { xmin: next, rows };
  });
}
