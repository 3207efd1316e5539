import type { Kysely } from 'kysely';
import {
  ACTOR_TYPES,
  type Actor,
  type AuditEntry,
  type AuditEvent,
  auditEntryJson,
  SYSTEM_ACTOR,
} from '../../domain/audit-entry.js';
import { GatewayError } from '../../errors/gateway-error.js';
import {
  type AuditFilter,
  AuditLogRepository,
  type AuditTable,
  chainContent,
} from '../../storage/repositories/audit-log.js';
import { newId } from '../../utils/ids.js';
import { type ChainVerification, chainHash, GENESIS_HASH, verifyChain } from './chain.js';

export type { Actor, AuditEntry, AuditEvent, AuditTable };
export { ACTOR_TYPES, SYSTEM_ACTOR };

/**
 * Appends one entry, chained to the previous one by hash so that editing, removing or
 * reordering entries is detected by `verifyAudit`. Writers take turns on the log's lock, so
 * the chain never forks; inside a caller's transaction the entry commits (or rolls back)
 * with the change it records.
 */
export async function appendAudit<DB>(
  db: Kysely<DB>,
  table: AuditTable,
  actor: Actor,
  event: AuditEvent,
  now = new Date(),
): Promise<void> {
  const write = async (trx: Kysely<DB>) => {
    const log = new AuditLogRepository(trx, table);
    await log.lock();
    const previousHash = (await log.lastHash()) ?? GENESIS_HASH;
    const entry: AuditEntry = {
      id: newId('aud'),
      at: now,
      actorType: actor.type,
      actorId: actor.id,
      action: event.action,
      targetType: event.targetType,
      targetId: event.targetId,
      before: event.before ?? null,
      after: event.after ?? null,
      ip: actor.ip ?? null,
      userAgent: actor.userAgent ?? null,
      requestId: actor.requestId ?? null,
    };
    await log.insert(entry, { previousHash, hash: chainHash(previousHash, chainContent(entry)) });
  };
  if (db.isTransaction) await write(db);
  else await db.transaction().execute(write);
}

/** Filters for a listing; every one given narrows the result. */
export interface AuditQuery extends AuditFilter {
  /** At most this many entries (default 100). */
  limit?: number;
  actorType?: Actor['type'];
  /** The id of the last entry of the previous page: this page holds older entries. */
  after?: string;
}

export interface AuditEntryPage {
  data: AuditEntry[];
  hasMore: boolean;
}

/**
 * One page of entries matching `query`, newest first. The cursor is the entry's id, but pages
 * are cut by the chain's order: ids are time-sortable only to the millisecond.
 */
export async function auditPage(
  log: AuditLogRepository,
  query: AuditQuery = {},
): Promise<AuditEntryPage> {
  const { limit = 100, after, ...filter } = query;
  let olderThan: string | undefined;
  if (after !== undefined) {
    olderThan = (await log.seqOf(after)) ?? undefined;
    if (olderThan === undefined)
      throw new GatewayError('invalid_request', {
        message: `No audit log entry has the id '${after}'; pass the last id of the previous page.`,
        param: 'after',
      });
  }
  // One entry more than asked for tells whether another page follows.
  const entries = await log.list(filter, limit + 1, olderThan);
  return { data: entries.slice(0, limit), hasMore: entries.length > limit };
}

/** Recomputes the whole chain; reports the first entry that does not match. */
export async function verifyLog(log: AuditLogRepository): Promise<ChainVerification> {
  return verifyChain(await log.links());
}

/** An entry as `listAudit` gives it: its JSON form without `object`, the time a Date. */
export type AuditRecord = Omit<ReturnType<typeof auditEntryJson>, 'object' | 'at'> & { at: Date };

export interface AuditPage {
  data: AuditRecord[];
  hasMore: boolean;
}

function toRecord(entry: AuditEntry): AuditRecord {
  const { object: _object, ...json } = auditEntryJson(entry);
  return { ...json, at: entry.at };
}

/** `auditPage` over a database and table, in the form the CLI prints (see AuditLogService). */
export async function listAudit(
  db: Kysely<unknown>,
  table: AuditTable,
  query: AuditQuery = {},
): Promise<AuditPage> {
  const page = await auditPage(new AuditLogRepository(db, table), query);
  return { data: page.data.map(toRecord), hasMore: page.hasMore };
}

export function verifyAudit(db: Kysely<unknown>, table: AuditTable): Promise<ChainVerification> {
  return verifyLog(new AuditLogRepository(db, table));
}
