import type { Kysely } from 'kysely';
import { auditEntryJson } from '../../domain/audit-entry.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import type { RedisCommands } from '../../storage/redis.js';
import { AuditLogRepository } from '../../storage/repositories/audit-log.js';
import type { EventLog } from '../events/event-log.js';
import type { TenantService } from '../tenancy/tenant-service.js';

export interface AuditTailOptions {
  tenants: TenantService;
  /** The control plane, for the platform's own audit log. */
  control: Kysely<ControlSchema>;
  /** The log stream the entries are appended to. */
  logs: EventLog;
  redis: RedisCommands;
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
    const { redis, stream, tenants } = this.options;
    const lock = `${stream}:audit-tail-lock`;
    if ((await redis.set(lock, '1', 'PX', 60_000, 'NX')) !== 'OK') return 0;
    try {
      const platform = AuditLogRepository.platform(this.options.control);
      let copied = await this.copy(PLATFORM, platform, null);
      for (const tenant of await tenants.list()) {
        if (tenant.status === 'provisioning' || tenant.status === 'deleting') continue;
        const log = AuditLogRepository.tenant(tenants.database(tenant));
        copied += await this.copy(tenant.id, log, tenant.id);
      }
      return copied;
    } finally {
      await redis.del(lock);
    }
  }

  private async copy(
    cursorField: string,
    log: AuditLogRepository,
    tenantId: string | null,
  ): Promise<number> {
    const { redis, stream, logs, batch = 500 } = this.options;
    const cursors = `${stream}:audit-cursors`;
    const after = (await redis.hget(cursors, cursorField)) ?? '0';
    const entries = await log.after(after, batch);
    for (const { entry } of entries) {
      // The stream's records say what they are in `type`; the entry's own fields are the data.
      const { object: _object, ...data } = auditEntryJson(entry);
      await logs.append({ type: `audit.${entry.action}`, tenantId, data });
    }
    const last = entries.at(-1);
    if (last !== undefined) await redis.hset(cursors, cursorField, last.seq);
    return entries.length;
  }
}
