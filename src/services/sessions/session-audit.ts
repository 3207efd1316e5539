import type { Kysely } from 'kysely';
import type { Actor } from '../../domain/audit-entry.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import { appendAudit } from '../audit/audit-log.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import type { SessionSubject } from './store.js';

/** Who signs in or out, seen from the HTTP edge. */
export interface SignInContext {
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
  /** How the session was opened, for the audit entry. */
  method?: 'api_key' | 'oidc';
}

export interface SessionAudit {
  record(
    action: 'session.sign_in' | 'session.sign_out',
    subject: SessionSubject,
    idHash: string,
    context: SignInContext,
  ): Promise<void>;
}

/**
 * Signs-in and -out in the audit log: a tenant's (its key or user) or the platform's (a
 * platform key). The target is the key or user; the entry names the session by a prefix of
 * its id's hash, which opens nothing, and never the key's secret.
 */
export class AuditedSessions implements SessionAudit {
  constructor(
    private readonly options: { tenants: TenantService; control: Kysely<ControlSchema> },
  ) {}

  async record(
    action: 'session.sign_in' | 'session.sign_out',
    subject: SessionSubject,
    idHash: string,
    context: SignInContext,
  ): Promise<void> {
    const actor: Actor = {
      type: subject.kind === 'user' ? 'user' : subject.tenantId === null ? 'platform_key' : 'key',
      id: subject.kind === 'user' ? subject.userId : subject.keyId,
      ip: context.ip ?? null,
      userAgent: context.userAgent ?? null,
      requestId: context.requestId ?? null,
    };
    const event = {
      action,
      targetType: subject.kind === 'user' ? 'user' : 'api_key',
      targetId: subject.kind === 'user' ? subject.userId : subject.keyId,
      after: {
        session: idHash.slice(0, 16),
        ...(action === 'session.sign_in' && { method: context.method ?? 'api_key' }),
      },
    };
    if (subject.tenantId === null) {
      await appendAudit(this.options.control, 'platform_audit_log', actor, event);
      return;
    }
    const { tenants } = this.options;
    const db = tenants.database(await tenants.get(subject.tenantId));
    await appendAudit(db, 'audit_log', actor, event);
  }
}
