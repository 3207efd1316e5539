import { type Kysely, type Selectable, sql } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import type { AuditLogTable } from '../../storage/control-schema.js';
import { newId } from '../../utils/ids.js';
import { type ChainVerification, chainHash, GENESIS_HASH, verifyChain } from './chain.js';

/**
 * Who did something: a tenant's key or a platform admin key on the API, an operator on the
 * CLI, or the system itself.
 */
export interface Actor {
  type: 'key' | 'platform_key' | 'cli' | 'system';
  id: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

export const SYSTEM_ACTOR: Actor = { type: 'system', id: null };

export const ACTOR_TYPES = [
  'key',
  'platform_key',
  'cli',
  'system',
] as const satisfies readonly Actor['type'][];

export interface AuditEvent {
  action: string;
  targetType: string;
  targetId: string;
  /** The target before and after the change, secrets left out. */
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
}

/** The tenant's `audit_log`, or the control plane's `platform_audit_log`. */
export type AuditTable = 'audit_log' | 'platform_audit_log';

type Row = Omit<Selectable<AuditLogTable>, 'seq'>;

type Entry = Omit<Row, 'previous_hash' | 'hash'>;

/** What the hash covers: every column but the hashes, in a form that reads back the same. */
function chained(entry: Entry): Record<string, unknown> {
  return { ...entry, at: new Date(entry.at).toISOString() };
}

/**
 * Appends one entry, chained to the previous one by hash so that editing, removing or
 * reordering entries is detected by `verifyAudit`. A transaction-scoped advisory lock makes
 * concurrent writers take turns, so the chain never forks.
 */
export async function appendAudit<DB>(
  db: Kysely<DB>,
  table: AuditTable,
  actor: Actor,
  event: AuditEvent,
  now = new Date(),
): Promise<void> {
  const write = async (trx: Kysely<DB>) => {
    await sql`select pg_advisory_xact_lock(hashtext(${table}))`.execute(trx);
    const last = await sql<{
      hash: string;
    }>`select hash from ${sql.table(table)} order by seq desc limit 1`.execute(trx);
    const previousHash = last.rows[0]?.hash ?? GENESIS_HASH;
    const entry: Entry = {
      id: newId('aud'),
      at: now,
      actor_type: actor.type,
      actor_id: actor.id,
      action: event.action,
      target_type: event.targetType,
      target_id: event.targetId,
      before: event.before ?? null,
      after: event.after ?? null,
      ip: actor.ip ?? null,
      user_agent: actor.userAgent ?? null,
      request_id: actor.requestId ?? null,
    };
    const hash = chainHash(previousHash, chained(entry));
    await sql`insert into ${sql.table(table)}
      (id, at, actor_type, actor_id, action, target_type, target_id, before, after, ip, user_agent, request_id, previous_hash, hash)
      values (${entry.id}, ${now}, ${entry.actor_type}, ${entry.actor_id}, ${entry.action}, ${entry.target_type},
        ${entry.target_id}, ${jsonb(entry.before)}, ${jsonb(entry.after)}, ${entry.ip}, ${entry.user_agent},
        ${entry.request_id}, ${previousHash}, ${hash})`.execute(trx);
  };
  // Inside a caller's transaction the entry commits (or rolls back) with the change it records.
  if (db.isTransaction) await write(db);
  else await db.transaction().execute(write);
}

function jsonb(value: unknown) {
  return value === null ? null : sql`${JSON.stringify(value)}::jsonb`;
}

export interface AuditRecord extends Entry {
  at: Date;
}

/** Filters for `listAudit`; every one given narrows the result. */
export interface AuditQuery {
  /** At most this many entries (default 100). */
  limit?: number;
  actorId?: string;
  actorType?: Actor['type'];
  /** An exact action, or a prefix when it ends with `.*` (`api_key.*`). */
  action?: string;
  targetType?: string;
  targetId?: string;
  /** Entries at or after this time. */
  since?: Date;
  /** Entries strictly before this time. */
  until?: Date;
  /** The id of the last entry of the previous page: this page holds older entries. */
  after?: string;
}

export interface AuditPage {
  data: AuditRecord[];
  hasMore: boolean;
}

const RECORD_COLUMNS = sql.join(
  [
    'id',
    'at',
    'actor_type',
    'actor_id',
    'action',
    'target_type',
    'target_id',
    'before',
    'after',
    'ip',
    'user_agent',
    'request_id',
  ].map((column) => sql.ref(column)),
);

/**
 * Entries after the one at `seq`, in chain order, each with its `seq` (as text: a bigint),
 * for readers that follow the log as it grows.
 */
export async function auditAfter(
  db: Kysely<unknown>,
  table: AuditTable,
  seq: string,
  limit: number,
): Promise<(AuditRecord & { seq: string })[]> {
  const { rows } = await sql<AuditRecord & { seq: string }>`
    select seq::text as seq, ${RECORD_COLUMNS} from ${sql.table(table)}
    where seq > ${seq} order by seq limit ${limit}`.execute(db);
  return rows;
}

/**
 * The cursor is the entry's id, but pages are cut by `seq`: ids are time-sortable only to
 * the millisecond, while `seq` follows the order in which entries were chained.
 */
async function cursorSeq(db: Kysely<unknown>, table: AuditTable, id: string): Promise<string> {
  const { rows } = await sql<{
    seq: string;
  }>`select seq::text as seq from ${sql.table(table)} where id = ${id}`.execute(db);
  const seq = rows[0]?.seq;
  if (seq === undefined)
    throw new GatewayError('invalid_request', {
      message: `No audit log entry has the id '${id}'; pass the last id of the previous page.`,
      param: 'after',
    });
  return seq;
}

function actionFilter(action: string) {
  // starts_with, not LIKE: '_' in 'api_key' would be a LIKE wildcard.
  return action.endsWith('.*')
    ? sql`starts_with(action, ${action.slice(0, -1)})`
    : sql`action = ${action}`;
}

function conditions(query: AuditQuery, olderThanSeq: string | undefined) {
  const where = [sql`true`];
  if (query.actorId !== undefined) where.push(sql`actor_id = ${query.actorId}`);
  if (query.actorType !== undefined) where.push(sql`actor_type = ${query.actorType}`);
  if (query.action !== undefined) where.push(actionFilter(query.action));
  if (query.targetType !== undefined) where.push(sql`target_type = ${query.targetType}`);
  if (query.targetId !== undefined) where.push(sql`target_id = ${query.targetId}`);
  if (query.since !== undefined) where.push(sql`at >= ${query.since}`);
  if (query.until !== undefined) where.push(sql`at < ${query.until}`);
  if (olderThanSeq !== undefined) where.push(sql`seq < ${olderThanSeq}::bigint`);
  return sql.join(where, sql` and `);
}

/** One page of entries matching `query`, newest first. */
export async function listAudit(
  db: Kysely<unknown>,
  table: AuditTable,
  query: AuditQuery = {},
): Promise<AuditPage> {
  const limit = query.limit ?? 100;
  const olderThanSeq =
    query.after === undefined ? undefined : await cursorSeq(db, table, query.after);
  // One row more than asked for tells whether another page follows.
  const { rows } = await sql<AuditRecord>`select ${RECORD_COLUMNS} from ${sql.table(table)}
    where ${conditions(query, olderThanSeq)} order by seq desc limit ${limit + 1}`.execute(db);
  return {
    data: rows.slice(0, limit).map((entry) => ({ ...entry, at: new Date(entry.at) })),
    hasMore: rows.length > limit,
  };
}

/** Recomputes the whole chain; reports the first entry that does not match. */
export async function verifyAudit(
  db: Kysely<unknown>,
  table: AuditTable,
): Promise<ChainVerification> {
  const { rows } = await sql<
    Row & { seq: string }
  >`select * from ${sql.table(table)} order by seq`.execute(db);
  return verifyChain(
    rows.map(({ seq: _seq, previous_hash, hash, ...entry }) => ({
      hash,
      previousHash: previous_hash,
      entry: chained(entry),
    })),
  );
}

/**
 * Audits a change to one tenant object: its state before and after (null when created or
 * deleted), each as its API shows it.
 */
export async function auditChange<T extends { id: string }>(
  db: Kysely<unknown>,
  actor: Actor,
  change: {
    action: string;
    targetType: string;
    before: T | null;
    after: T | null;
    json: (value: T) => Record<string, unknown>;
  },
): Promise<void> {
  const { action, targetType, before, after, json } = change;
  const target = (after ?? before) as T;
  await appendAudit(db, 'audit_log', actor, {
    action,
    targetType,
    targetId: target.id,
    before: before && json(before),
    after: after && json(after),
  });
}
