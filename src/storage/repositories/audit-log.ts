import { type Kysely, type QueryExecutorProvider, sql } from 'kysely';
import type { AuditEntry } from '../../domain/audit-entry.js';
import type { ControlSchema } from '../control-schema.js';
import type { TenantSchema } from '../tenant-schema.js';

/** The tenant's `audit_log`, or the control plane's `platform_audit_log`. */
export type AuditTable = 'audit_log' | 'platform_audit_log';

/** Filters for a listing; every one given narrows the result. */
export interface AuditFilter {
  actorId?: string;
  actorType?: string;
  /** An exact action, or a prefix when it ends with `.*` (`api_key.*`). */
  action?: string;
  targetType?: string;
  targetId?: string;
  /** Entries at or after this time. */
  since?: Date;
  /** Entries strictly before this time. */
  until?: Date;
}

/** An entry with its place in the chain: `seq` as text (a bigint). */
export interface SequencedEntry {
  seq: string;
  entry: AuditEntry;
}

/** A stored link of the chain, as chain.ts's `verifyChain` reads it. */
export interface StoredLink {
  hash: string;
  previousHash: string;
  entry: Record<string, unknown>;
}

interface Row {
  id: string;
  at: Date | string;
  actor_type: string;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
}

const COLUMNS = [
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
] as const;
const ENTRY_COLUMNS = sql.join(COLUMNS.map((column) => sql.ref(column)));

/**
 * What an entry's hash covers: every column but the hashes, as stored, the time in ISO form,
 * so that it reads back the same. Entries already chained depend on it: never change it.
 */
export function chainContent(entry: AuditEntry): Record<string, unknown> {
  return {
    id: entry.id,
    at: entry.at.toISOString(),
    actor_type: entry.actorType,
    actor_id: entry.actorId,
    action: entry.action,
    target_type: entry.targetType,
    target_id: entry.targetId,
    before: entry.before,
    after: entry.after,
    ip: entry.ip,
    user_agent: entry.userAgent,
    request_id: entry.requestId,
  };
}

function toEntry(row: Row): AuditEntry {
  return {
    id: row.id,
    at: new Date(row.at),
    actorType: row.actor_type,
    actorId: row.actor_id,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    before: row.before,
    after: row.after,
    ip: row.ip,
    userAgent: row.user_agent,
    requestId: row.request_id,
  };
}

function jsonb(value: unknown) {
  return value === null ? null : sql`${JSON.stringify(value)}::jsonb`;
}

function actionFilter(action: string) {
  // starts_with, not LIKE: '_' in 'api_key' would be a LIKE wildcard.
  return action.endsWith('.*')
    ? sql`starts_with(action, ${action.slice(0, -1)})`
    : sql`action = ${action}`;
}

function conditions(filter: AuditFilter, olderThanSeq: string | undefined) {
  const where = [sql`true`];
  if (filter.actorId !== undefined) where.push(sql`actor_id = ${filter.actorId}`);
  if (filter.actorType !== undefined) where.push(sql`actor_type = ${filter.actorType}`);
  if (filter.action !== undefined) where.push(actionFilter(filter.action));
  if (filter.targetType !== undefined) where.push(sql`target_type = ${filter.targetType}`);
  if (filter.targetId !== undefined) where.push(sql`target_id = ${filter.targetId}`);
  if (filter.since !== undefined) where.push(sql`at >= ${filter.since}`);
  if (filter.until !== undefined) where.push(sql`at < ${filter.until}`);
  if (olderThanSeq !== undefined) where.push(sql`seq < ${olderThanSeq}::bigint`);
  return sql.join(where, sql` and `);
}

/**
 * One audit log: a tenant's (in its database) or the platform's (in the control plane). The
 * entries form a hash chain in `seq` order; the hashing itself is services/audit/chain.ts's.
 */
export class AuditLogRepository {
  /** Over any database or transaction that holds `table`: it only runs SQL of its own. */
  constructor(
    private readonly db: QueryExecutorProvider,
    private readonly table: AuditTable,
  ) {}

  static tenant(db: Kysely<TenantSchema>): AuditLogRepository {
    return new AuditLogRepository(db, 'audit_log');
  }

  static platform(db: Kysely<ControlSchema>): AuditLogRepository {
    return new AuditLogRepository(db, 'platform_audit_log');
  }

  /**
   * Makes concurrent writers take turns until the transaction ends, so the chain never forks:
   * call it inside the transaction that appends, before reading the last hash.
   */
  async lock(): Promise<void> {
    await sql`select pg_advisory_xact_lock(hashtext(${this.table}))`.execute(this.db);
  }

  /** The hash of the newest entry; null for an empty log. */
  async lastHash(): Promise<string | null> {
    const { rows } = await sql<{ hash: string }>`
      select hash from ${sql.table(this.table)} order by seq desc limit 1`.execute(this.db);
    return rows[0]?.hash ?? null;
  }

  async insert(entry: AuditEntry, link: { previousHash: string; hash: string }): Promise<void> {
    const e = entry;
    await sql`insert into ${sql.table(this.table)} (${ENTRY_COLUMNS}, previous_hash, hash)
      values (${e.id}, ${e.at}, ${e.actorType}, ${e.actorId}, ${e.action}, ${e.targetType},
        ${e.targetId}, ${jsonb(e.before)}, ${jsonb(e.after)}, ${e.ip}, ${e.userAgent},
        ${e.requestId}, ${link.previousHash}, ${link.hash})`.execute(this.db);
  }

  /** The `seq` of the entry with this id, as text; null when there is none. */
  async seqOf(id: string): Promise<string | null> {
    const { rows } = await sql<{ seq: string }>`
      select seq::text as seq from ${sql.table(this.table)} where id = ${id}`.execute(this.db);
    return rows[0]?.seq ?? null;
  }

  /** Up to `limit` entries matching `filter`, newest first, older than `olderThanSeq` if given. */
  async list(filter: AuditFilter, limit: number, olderThanSeq?: string): Promise<AuditEntry[]> {
    const { rows } = await sql<Row>`select ${ENTRY_COLUMNS} from ${sql.table(this.table)}
      where ${conditions(filter, olderThanSeq)} order by seq desc limit ${limit}`.execute(this.db);
    return rows.map(toEntry);
  }

  /** Entries after the one at `seq`, in chain order: for readers that follow the log. */
  async after(seq: string, limit: number): Promise<SequencedEntry[]> {
    const { rows } = await sql<Row & { seq: string }>`
      select seq::text as seq, ${ENTRY_COLUMNS} from ${sql.table(this.table)}
      where seq > ${seq} order by seq limit ${limit}`.execute(this.db);
    return rows.map(({ seq: position, ...row }) => ({ seq: position, entry: toEntry(row) }));
  }

  /** Every link of the chain, in order. */
  async links(): Promise<StoredLink[]> {
    const { rows } = await sql<Row & { previous_hash: string; hash: string }>`
      select ${ENTRY_COLUMNS}, previous_hash, hash from ${sql.table(this.table)}
      order by seq`.execute(this.db);
    return rows.map(({ previous_hash, hash, ...row }) => ({
      hash,
      previousHash: previous_hash,
      entry: chainContent(toEntry(row)),
    }));
  }
}
