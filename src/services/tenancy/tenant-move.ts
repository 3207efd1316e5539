import { type Kysely, sql, type Transaction } from 'kysely';
import { DEFAULT_DATABASE_SERVER } from '../../config/database-servers.js';
import type { Actor } from '../../domain/audit-entry.js';
import { TENANT, type Tenant } from '../../domain/tenant.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import type { DatabaseServer } from '../../storage/database-server.js';
import { migrateToLatest } from '../../storage/migrations/index.js';
import { TenantRepository } from '../../storage/repositories/tenants.js';
import type { TenantConnections } from '../../storage/tenant-connections.js';
import {
  addPartitions,
  appliedMigrations,
  type Checksums,
  checksums,
  copyPlan,
  copyRows,
  copySequences,
  lockTargets,
  truncate,
  withReferencing,
} from '../../storage/tenant-copy.js';
import type { ChangeRecorder } from '../audit/changes.js';
import type { TenantFence } from './tenant-fence.js';

export interface MoveDeps {
  control: Kysely<ControlSchema>;
  connections: TenantConnections;
  changes: ChangeRecorder;
  fence: TenantFence;
}

export interface MoveOptions {
  /** Drops the old database once the tenant is served from the new server. */
  dropSource?: boolean;
  /** A line per step, for the command line. */
  onProgress?: (line: string) => void;
}

export interface MoveResult {
  tenant: Tenant;
  from: string;
  to: string;
  /** Rows copied while the tenant kept serving. */
  rows: number;
  /** Rows copied again under the pause: those of the tables that changed meanwhile. */
  deltaRows: number;
  /** How long the tenant's writes were paused. */
  pauseMs: number;
  sourceDropped: boolean;
}

/**
 * The fence's lifetime: a mover that dies mid-pause stops pausing the tenant after this. The
 * PostgreSQL lock it held went with its connection, so nothing is written out of turn.
 */
const FENCE_TTL_MS = 30_000;
/** How long the pause waits for writes in flight on the old database to finish. */
const LOCK_TIMEOUT = '5s';
/** Pauses tried before giving up, when a writer deadlocked with the lock or held it too long. */
const PAUSE_ATTEMPTS = 3;

const refuse = (message: string, param = 'to') =>
  new GatewayError('invalid_request', { message, param });

const serverName = (server: string | null) => server ?? DEFAULT_DATABASE_SERVER;

/**
 * Copies a tenant's database to another server and serves the tenant from there (see
 * docs/tenancy.md, "Moving a tenant"):
 *
 * 1. The rows are copied from one snapshot while the tenant keeps serving; each table's
 *    fingerprint (row count and a sum of row hashes) is noted.
 * 2. The pause: the fence goes up on every instance (writers hold back), then one transaction
 *    on the old database locks every table against writes, waiting for writes in flight.
 *    The tables whose fingerprint changed since step 1 are copied again; every table's
 *    fingerprint on the new server must equal the old one's.
 * 3. The old database is sealed (no new connections, the open ones ended, so nothing written
 *    late can land there), the registry row switches server in one audited change, and every
 *    instance drops what it cached of the tenant (the invalidation bus). The lock and the
 *    fence go.
 *
 * A failure before the switch leaves everything as it was: the new database is dropped.
 */
export async function moveTenant(
  deps: MoveDeps,
  tenant: Tenant,
  to: string | null,
  actor: Actor,
  options: MoveOptions = {},
): Promise<MoveResult> {
  const progress = options.onProgress ?? (() => {});
  const { servers } = deps.connections;
  const from = tenant.server;
  if (tenant.status === 'deleting' || tenant.status === 'provisioning') {
    throw refuse(
      `Tenant '${tenant.slug}' is ${tenant.status === 'deleting' ? 'being deleted' : 'still being provisioned'}; it cannot be moved.`,
      'tenant',
    );
  }
  if (serverName(from) === serverName(to)) {
    throw refuse(`Tenant '${tenant.slug}' is on server '${serverName(to)}' already.`);
  }
  const source = servers.primary(from);
  const target = servers.primary(to);
  if (await target.exists(tenant.databaseName)) {
    throw refuse(
      `Server '${serverName(to)}' has a database '${tenant.databaseName}' already (kept by an earlier move?); drop it there first.`,
    );
  }
  return exclusively(deps.control, tenant, () =>
    move({ deps, tenant, from, to, source, target, actor, options, progress }),
  );
}

/** One move of a tenant at a time, whichever process runs it. */
async function exclusively<T>(
  control: Kysely<ControlSchema>,
  tenant: Tenant,
  run: () => Promise<T>,
): Promise<T> {
  return control.connection().execute(async (session) => {
    const key = `tenant.move:${tenant.id}`;
    const { rows } = await sql<{ locked: boolean }>`
      select pg_try_advisory_lock(hashtext(${key})) as locked`.execute(session);
    if (rows[0]?.locked !== true) throw refuse(`Tenant '${tenant.slug}' is being moved already.`);
    try {
      return await run();
    } finally {
      await sql`select pg_advisory_unlock(hashtext(${key}))`.execute(session);
    }
  });
}

interface Move {
  deps: MoveDeps;
  tenant: Tenant;
  from: string | null;
  to: string | null;
  source: DatabaseServer;
  target: DatabaseServer;
  actor: Actor;
  options: MoveOptions;
  progress: (line: string) => void;
}

async function move(m: Move): Promise<MoveResult> {
  const { tenant, source, target, progress } = m;
  const name = tenant.databaseName;
  progress(`creating ${name} on server '${serverName(m.to)}'`);
  await target.create(name);
  const oldDb = source.open<unknown>(name, { maxConnections: 2 });
  const newDb = target.open<unknown>(name, { maxConnections: 2 });
  let switched = false;
  try {
    await migrateToLatest(newDb, 'tenant');
    const [was, is] = [await appliedMigrations(oldDb), await appliedMigrations(newDb)];
    if (was.join() !== is.join()) {
      throw refuse(
        `Tenant '${tenant.slug}' has migrations ${was.at(-1) ?? 'none'}, the new database ${is.at(-1) ?? 'none'}: run 'llm-backend migrate' first.`,
        'tenant',
      );
    }
    const bulk = await bulkCopy(oldDb, newDb);
    progress(`copied ${bulk.rows} rows of ${bulk.sums.size} tables while the tenant kept serving`);
    const paused = await pausedSwitch(m, oldDb, newDb, bulk.sums, () => {
      switched = true;
    });
    progress(
      `switched to server '${serverName(m.to)}': writes paused ${paused.pauseMs} ms, ${paused.deltaRows} rows copied again`,
    );
    await m.deps.connections.release({ server: m.from, databaseName: name });
    let sourceDropped = false;
    if (m.options.dropSource === true) {
      await oldDb.destroy();
      await source.drop(name);
      sourceDropped = true;
      progress(`dropped ${name} on server '${serverName(m.from)}'`);
    } else {
      progress(
        `kept ${name} on server '${serverName(m.from)}', closed to connections; drop it when no longer needed`,
      );
    }
    return {
      tenant: paused.tenant,
      from: serverName(m.from),
      to: serverName(m.to),
      rows: bulk.rows,
      deltaRows: paused.deltaRows,
      pauseMs: paused.pauseMs,
      sourceDropped,
    };
  } catch (error) {
    if (!switched) {
      await newDb.destroy().catch(() => {});
      await target.drop(name).catch(() => {});
    }
    throw error;
  } finally {
    await oldDb.destroy().catch(() => {});
    await newDb.destroy().catch(() => {});
  }
}

/** Phase 1: every row from one snapshot, and each table's fingerprint in that snapshot. */
async function bulkCopy(
  oldDb: Kysely<unknown>,
  newDb: Kysely<unknown>,
): Promise<{ rows: number; sums: Checksums }> {
  return oldDb
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (snapshot) => {
      const plan = await copyPlan(snapshot);
      await addPartitions(newDb, plan.leaves);
      const sums = await checksums(snapshot, plan.leaves);
      const rows = await newDb
        .transaction()
        .execute((into) => copyRows(snapshot, into, plan.leaves));
      return { rows, sums };
    });
}

const retryable = (error: unknown) => {
  const code = (error as { code?: unknown }).code;
  // 40P01: a writer deadlocked with the lock; 55P03: writes in flight outlasted the timeout.
  return code === '40P01' || code === '55P03';
};

/** Phase 2 and the switch, under the fence; tried again when the lock could not be had. */
async function pausedSwitch(
  m: Move,
  oldDb: Kysely<unknown>,
  newDb: Kysely<unknown>,
  before: Checksums,
  onSwitch: () => void,
): Promise<{ tenant: Tenant; deltaRows: number; pauseMs: number }> {
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    await m.deps.fence.raise(m.tenant.id, FENCE_TTL_MS);
    try {
      const result = await oldDb
        .transaction()
        .execute((locked) => underLock(m, locked, newDb, before, onSwitch));
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
  before: Checksums,
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
  const now = await checksums(locked, plan.leaves);
  const changed = plan.leaves.filter((leaf) => before.get(leaf.name) !== now.get(leaf.name));
  const redo = withReferencing(
    plan,
    changed.map((leaf) => leaf.name),
  );
  const deltaRows = await newDb.transaction().execute(async (into) => {
    await truncate(into, redo);
    const rows = await copyRows(locked, into, redo);
    await copySequences(locked, into);
    return rows;
  });
  const copied = await newDb.transaction().execute((into) => checksums(into, plan.leaves));
  const differing = plan.leaves.filter((leaf) => copied.get(leaf.name) !== now.get(leaf.name));
  if (differing.length > 0) {
    throw new Error(
      `the copy differs from the source in ${differing.map((leaf) => leaf.name).join(', ')}`,
    );
  }
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
