import { type Kysely, sql } from 'kysely';
import { DEFAULT_DATABASE_SERVER } from '../../config/database-servers.js';
import type { Actor } from '../../domain/audit-entry.js';
import type { Tenant } from '../../domain/tenant.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import { migrateToLatest } from '../../storage/migrations/index.js';
import { appliedMigrations, copyRows } from '../../storage/tenant-copy.js';
import { inSnapshot } from '../../storage/tenant-delta.js';
import { catchUp } from './tenant-move-catchup.js';
import { pausedSwitch } from './tenant-move-pause.js';
import type { Move, MoveDeps, MoveOptions } from './tenant-move-types.js';

export type { MoveDeps, MoveOptions };

export interface MoveResult {
  tenant: Tenant;
  from: string;
  to: string;
  /** Rows copied while the tenant kept serving. */
  rows: number;
  /** Rows copied under the pause: those changed since the last round of catching up. */
  deltaRows: number;
  /** How long the tenant's writes were paused. */
  pauseMs: number;
  sourceDropped: boolean;
}

const refuse = (message: string, param = 'to') =>
  new GatewayError('invalid_request', { message, param });

const serverName = (server: string | null) => server ?? DEFAULT_DATABASE_SERVER;

/**
 * Copies a tenant's database to another server and serves the tenant from there (see
 * docs/tenancy.md, "Moving a tenant"):
 *
 * 1. The rows are copied from one snapshot while the tenant keeps serving; then rounds copy
 *    the rows changed since the round before (found by transaction id), until a round finds
 *    few, and a last one checks every table's fingerprint (row count and a sum of row
 *    hashes) against the source in its snapshot, dropping by key the rows deleted meanwhile
 *    (tenant-move-catchup.ts).
 * 2. The pause: the fence goes up on every instance (writers hold back), then one transaction
 *    on the old database locks every table against writes, waiting for writes in flight.
 *    The rows changed since the last round are copied; a table whose row count then differs
 *    (rows deleted) has the rows the source lost dropped by key, or without a key is copied
 *    again whole.
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
    progress(`copied ${bulk.rows} rows of ${bulk.tables} tables while the tenant kept serving`);
    const caughtUp = await catchUp(m, oldDb, newDb, bulk.xmin);
    const paused = await pausedSwitch(m, oldDb, newDb, caughtUp.xmin, () => {
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

/**
 * Phase 1: every row from one snapshot, and where the catching up starts from (the
 * snapshot's xmin: changes since are found by their transaction ids, see tenant-delta.ts).
 */
async function bulkCopy(
  oldDb: Kysely<unknown>,
  newDb: Kysely<unknown>,
): Promise<{ rows: number; tables: number; xmin: string }> {
  return inSnapshot(oldDb, newDb, async (snapshot, plan, xmin) => {
    const rows = await newDb.transaction().execute((into) => copyRows(snapshot, into, plan.leaves));
    return { rows, tables: plan.leaves.length, xmin };
  });
}
