import { type Kysely, type Selectable, sql } from 'kysely';
import type { AuditLogTable } from '../../storage/control-schema.js';
import { newId } from '../../utils/ids.js';
import { type ChainVerification, chainHash, GENESIS_HASH, verifyChain } from './chain.js';

/** Who did something: a key on the API, an operator on the CLI, or the system itself. */
export interface Actor {
  type: 'key' | 'cli' | 'system';
  id: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

export const SYSTEM_ACTOR: Actor = { type: 'system', id: null };

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
export async function appendAudit(
  db: Kysely<unknown>,
  table: AuditTable,
  actor: Actor,
  event: AuditEvent,
  now = new Date(),
): Promise<void> {
  await db.transaction().execute(async (trx) => {
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
  });
}

function jsonb(value: unknown) {
  return value === null ? null : sql`${JSON.stringify(value)}::jsonb`;
}

export interface AuditRecord extends Entry {
  at: Date;
}

export async function listAudit(
  db: Kysely<unknown>,
  table: AuditTable,
  limit = 100,
): Promise<AuditRecord[]> {
  const { rows } =
    await sql<Row>`select * from ${sql.table(table)} order by seq desc limit ${limit}`.execute(db);
  return rows.map(({ previous_hash: _p, hash: _h, ...entry }) => ({
    ...entry,
    at: new Date(entry.at),
  }));
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
