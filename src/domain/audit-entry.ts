/**
 * Who did something: a tenant's key or a platform admin key on the API, a tenant's user
 * signed in to the admin panel by single sign-on, an operator on the CLI, or the system.
 */
export interface Actor {
  type: 'key' | 'platform_key' | 'user' | 'cli' | 'system';
  id: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

export const SYSTEM_ACTOR: Actor = { type: 'system', id: null };

export const ACTOR_TYPES = [
  'key',
  'platform_key',
  'user',
  'cli',
  'system',
] as const satisfies readonly Actor['type'][];

/** What an entry records: one action on one target. */
export interface AuditEvent {
  action: string;
  targetType: string;
  targetId: string;
  /** The target before and after the change (its JSON form), secrets left out. */
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
}

/** One entry of a tenant's `audit_log` or of the control plane's `platform_audit_log`. */
export interface AuditEntry {
  id: string;
  at: Date;
  actorType: string;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

export function auditEntryJson(entry: AuditEntry) {
  return {
    object: 'audit_log' as const,
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
