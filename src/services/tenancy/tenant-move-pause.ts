import { type Kysely, sql, type Transaction } from 'kysely';
import { TENANT, type Tenant } from '../../domain/tenant.js';
import { TenantRepository } from '../../storage/repositories/tenants.js';
import {
  addPartitions,
  copyPlan,
  copyRows,
  copySequences,
  lockTargets,
  truncate,
  withReferencing,
} from '../../storage/tenant-copy.js';
import { copyChanges, dropAllDeleted, primaryKeys, rowCounts } from '../../storage/tenant-delta.js';
import type { Move } from './tenant-move-types.js';

/** Phase 2 of a move (see tenant-move.ts): the pause, the delta, the seal and the switch. */

/**
 * The fence's lifetime: a mover that dies mid-pause stops pausing the tenant after this. The
 * PostgreSQL lock it held went with its connection, so nothing is written out of turn.
 */
const FENCE_TTL_MS = 30_000;
/** How long the pause waits for writes in flight on the old database to finish. */
const LOCK_TIMEOUT = '5s';
/** Pauses tried before giving up, when a writer deadlocked with the lock or held it too long. */
const PAUSE_ATTEMPTS = 3;

const retryable = (error: unknown) => {
  const code = (error as { code?: unknown }).code;
  // 40P01: a writer deadlocked with the lock; 55P03: writes in flight outlasted the timeout.
  return code === '40P01' || code === '55P03';
};

/** Phase 2 and the switch, under the fence; tried again when the lock could not be had. */
export async function pausedSwitch(
  m: Move,
  oldDb: Kysely<unknown>,
  newDb: Kysely<unknown>,
  xmin: string,
  onSwitch: () => void,
): Promise<{ tenant: Tenant; deltaRows: number; pauseMs: number }> {
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    await m.deps.fence.raise(m.tenant.id, FENCE_TTL_MS);
    try {
      const result = await oldDb
        .transaction()
        .execute((locked) => underLock(m, locked, newDb, xmin, onSwitch));
      return { ...result, pauseMs: Date.now() - started };
    } catch (error) {
      if (attempt >= PAUSE_ATTEMPTS || !retryable(error)) throw error;
      m.progress(`writes in flight held the tables (attempt ${attempt}); pausing again`);
    } finally {
      await m.deps.fence.lower(m.tenant.id).catch(() => {});
    }
  }
}

async function underLock(
  m: Move,
  locked: Transaction<unknown>,
  newDb: Kysely<unknown>,
  xmin: string,
  onSwitch: () => void,
): Promise<{ tenant: Tenant; deltaRows: number }> {
  await sql`set local lock_timeout = ${sql.lit(LOCK_TIMEOUT)}`.execute(locked);
  const tables = lockTargets((await copyPlan(locked)).leaves);
  await sql`lock table ${sql.join(tables.map((t) => sql.id('public', t)))} in exclusive mode`.execute(
    locked,
  );
  // Read again under the lock: a partition made just before it is in the copy too.
  const plan = await copyPlan(locked);
  await addPartitions(newDb, plan.leaves);
  const keys = await primaryKeys(locked);
  // The copy held every row of the last round's snapshot (its fingerprints were checked):
  // what changed since has a newer transaction id, but for deleted rows, which leave the
  // copy with more rows than the source.
  const deltaRows = await newDb.transaction().execute(async (into) => {
    const changes = await copyChanges(locked, into, plan.leaves, keys, xmin);
    const source = await rowCounts(locked, plan.leaves);
    const copied = await rowCounts(into, plan.leaves);
    const differing = plan.leaves.filter((leaf) => copied.get(leaf.name) !== source.get(leaf.name));
    // Rows deleted since the last round: found by key where there is one, else (or when the
    // keys do not agree) the leaf is copied again whole.
    const dropped = await dropAllDeleted(locked, into, differing, keys);
    const redo = withReferencing(plan, [...changes.unkeyed, ...dropped.whole]);
    await truncate(into, redo);
    const rows = changes.rows + dropped.rows + (await copyRows(locked, into, redo));
    await copySequences(locked, into);
    const checked = [...new Set([...differing, ...redo])];
    const after = await rowCounts(into, checked);
    const still = checked.filter((leaf) => after.get(leaf.name) !== source.get(leaf.name));
    if (still.length > 0) {
      throw new Error(
        `the copy differs from the source in ${still.map((leaf) => leaf.name).join(', ')}`,
      );
    }
    return rows;
  });
  const sealer = m.source.open<unknown>(null, { maxConnections: 1 });
  try {
    await seal(sealer, locked, m.tenant.databaseName, false);
    try {
      const tenant = await switchServer(m);
      onSwitch();
      return { tenant, deltaRows };
    } catch (error) {
      await seal(sealer, locked, m.tenant.databaseName, true);
      throw error;
    }
  } finally {
    await sealer.destroy();
  }
}

/**
 * Closes the old database to new connections (committed at once, on a connection of its
 * own) and ends the others, so a writer waiting for the lock fails instead of writing there
 * after the switch; its retry reads the registry again and finds the new server.
 */
async function seal(
  server: Kysely<unknown>,
  locked: Transaction<unknown>,
  name: string,
  reopen: boolean,
): Promise<void> {
  await sql`alter database ${sql.id(name)} with allow_connections ${sql.raw(reopen ? 'true' : 'false')}`.execute(
    server,
  );
  if (reopen) return;
  await sql`select pg_terminate_backend(pid) from pg_stat_activity
    where datname = current_database() and pid <> pg_backend_pid()`.execute(locked);
}

/** The registry row names the new server: audited, and announced to every instance. */
async function switchServer(m: Move): Promise<Tenant> {
  const { after } = await m.deps.changes.platform(m.deps.control, m.actor, {
    action: 'tenant.move',
    kind: TENANT,
    write: async (trx) => ({
      before: m.tenant,
      after: await new TenantRepository(trx).relocate(m.tenant.id, m.to),
    }),
    invalidate: () => ({ tenantId: m.tenant.id }),
  });
  if (after === null) throw new Error('the tenant vanished during its move');
  return after;
}
