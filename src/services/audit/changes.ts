import type { Kysely } from 'kysely';
import type { EntityKind } from '../../domain/entity.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import type { Invalidation, InvalidationBus } from '../keys/invalidation.js';
import { type Actor, type AuditTable, appendAudit } from './audit-log.js';

/** What one admin change did to one object: null before when created, null after when gone. */
export interface Changed<T> {
  before: T | null;
  after: T | null;
}

export interface Change<T, DB, R extends Changed<T> = Changed<T>> {
  /** The audit entry's action, such as `user.create`. */
  action: string;
  kind: EntityKind<T>;
  /** Makes the change inside the transaction; throws (rolling back) when it must not be made. */
  write(trx: Kysely<DB>): Promise<R>;
  /** Cached copies every instance drops once the change is committed. */
  invalidate?: (changed: R) => Invalidation | null;
  /** Events raised once the change is committed. */
  announce?: (changed: R) => void;
}

/**
 * The one way an admin change is made: the write and its audit entry commit together (or
 * neither does), then caches on every instance are told and events raised. The announcing
 * comes after the commit, so nobody hears of a change that was rolled back.
 */
export class ChangeRecorder {
  constructor(private readonly bus?: InvalidationBus) {}

  /** A change to an object in a tenant's database, audited in its `audit_log`. */
  tenant<T, R extends Changed<T>>(
    db: Kysely<TenantSchema>,
    actor: Actor,
    change: Change<T, TenantSchema, R>,
  ): Promise<R> {
    return this.record(db, 'audit_log', actor, change);
  }

  /** A change to the platform (tenants, platform keys), audited in `platform_audit_log`. */
  platform<T, R extends Changed<T>>(
    db: Kysely<ControlSchema>,
    actor: Actor,
    change: Change<T, ControlSchema, R>,
  ): Promise<R> {
    return this.record(db, 'platform_audit_log', actor, change);
  }

  private async record<T, DB, R extends Changed<T>>(
    db: Kysely<DB>,
    table: AuditTable,
    actor: Actor,
    change: Change<T, DB, R>,
  ): Promise<R> {
    const { kind } = change;
    const changed = await db.transaction().execute(async (trx) => {
      const result = await change.write(trx);
      const target = result.after ?? result.before;
      if (target !== null)
        await appendAudit(trx, table, actor, {
          action: change.action,
          targetType: kind.object,
          targetId: kind.id(target),
          before: result.before && kind.json(result.before),
          after: result.after && kind.json(result.after),
        });
      return result;
    });
    const invalidation = change.invalidate?.(changed) ?? null;
    if (invalidation !== null) await this.bus?.publish(invalidation);
    change.announce?.(changed);
    return changed;
  }
}
