import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { type AuditTable, auditAfter } from '../audit/audit-log.js';
import type { EventLog } from '../events/event-log.js';
import type { TenantService } from '../tenancy/tenant-service.js';

export interface AuditTailOptions {
  tenants: TenantService;
  /** The control plane, for the platform's own audit log. */
  control: Kysely<unknown>;
  /** The log stream the entries are appended to. */
  logs: EventLog;
  redis: Redis;
  /** The log stream's key: the cursors and the lock are named after it. */
  stream: string;
  batch?: number;
}

const PLATFORM = 'platform';

/**
 * Copies new audit entries, each tenant's and the platform's, into the log stream, in the
 * order of their chain. Each table is read from where the last copy stopped (a cursor per
 * table in Redis), and the cursor moves only after the entries are in the stream: an entry
 * may be copied twice after a crash, never skipped. One instance copies at a time.
 */
export class AuditTail {
  constructor(private readonly options: AuditTailOptions) {}

  /** One pass over every audit table; returns how many entries were copied. */
  async once(): Promise<number> {
    const { redis, stream } = this.options;
    const lock = `${stream}:audit-tail-lock`;
    if ((await redis.set(lock, '1', 'PX', 60_000, 'NX')) !== 'OK') return 0;
    try {
      let copied = await this.copy(PLATFORM, this.options.control, 'platform_audit_log', null);
      for (const tenant of await this.options.tenants.list()) {
        if (tenant.status === 'provisioning' || tenant.status === 'deleting') continue;
        const db = this.options.tenants.database(tenant) as Kysely<unknown>;
        copied += await this.copy(tenant.id, db, 'audit_log', tenant.id);
      }
      return copied;
    } finally {
      await redis.del(lock);
    }
  }

  private async copy(
    cursorField: string,
    db: Kysely<unknown>,
    table: AuditTable,
    tenantId: string | null,
  ): Promise<number> {
    const { redis, stream, logs, batch = 500 } = this.options;
    const cursors = `${stream}:audit-cursors`;
    const after = (await redis.hget(cursors, cursorField)) ?? '0';
    const rows = await auditAfter(db, table, after, batch);
    for (const row of rows) {
      const { seq: _seq, at, ...entry } = row;
      await logs.append({
        type: `audit.${row.action}`,
        tenantId,
        data: { ...entry, at: new Date(at).toISOString() },
      });
    }
    const last = rows.at(-1);
    if (last !== undefined) await redis.hset(cursors, cursorField, last.seq);
    return rows.length;
  }
}
