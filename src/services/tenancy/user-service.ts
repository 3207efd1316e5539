import type { TenantRole } from '../../domain/roles.js';
import { USER, USER_STATUSES, type User, type UserStatus } from '../../domain/user.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { type UserChanges, UserRepository } from '../../storage/repositories/users.js';
import { newId } from '../../utils/ids.js';
import { checkWithin, validAllowedModels } from '../access/model-access.js';
import { TENANT_ROLES } from '../access/permissions.js';
import { type Actor, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { ChangeRecorder } from '../audit/changes.js';
import type { TenantService } from './tenant-service.js';

export type { User, UserStatus };

export interface UserServiceOptions {
  tenants: TenantService;
  changes: ChangeRecorder;
}

// Deliberately loose: one '@', a dot in the domain, no spaces. Deliverability is the mail
// server's business; this only catches typos and pasted junk.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const EMAIL_MAX = 254;
const NAME_MAX = 200;
function invalid(param: string, message: string): GatewayError {
  return new GatewayError('invalid_request', { param, message });
}

// Inputs arrive from HTTP bodies and CLI flags, so the checks do not trust the static types.
function validEmail(email: unknown): string {
  const normalised = typeof email === 'string' ? email.trim().toLowerCase() : '';
  if (normalised.length > EMAIL_MAX || !EMAIL.test(normalised)) {
    throw invalid('email', `Invalid email '${String(email)}'.`);
  }
  return normalised;
}

function validName(name: unknown): string {
  const trimmed = typeof name === 'string' ? name.trim() : '';
  const length = [...trimmed].length;
  if (length < 1 || length > NAME_MAX) {
    throw invalid('name', `Invalid name: use 1 to ${NAME_MAX} characters.`);
  }
  return trimmed;
}

function validRole(role: unknown): TenantRole {
  if (typeof role !== 'string' || !(TENANT_ROLES as readonly string[]).includes(role)) {
    throw invalid('role', `Invalid role '${String(role)}': use one of ${TENANT_ROLES.join(', ')}.`);
  }
  return role as TenantRole;
}

/**
 * The users of one tenant, stored in that tenant's own database. Emails are stored lowercase,
 * so the database's unique constraint makes them unique regardless of case.
 */
export class UserService {
  constructor(private readonly options: UserServiceOptions) {}

  async create(
    tenantRef: string,
    input: { email: string; name: string; role: TenantRole; allowedModels?: string[] | null },
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<User> {
    const user = {
      id: newId('usr'),
      email: validEmail(input.email),
      name: validName(input.name),
      role: validRole(input.role),
      allowedModels: validAllowedModels(input.allowedModels ?? null),
    };
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    checkWithin(user.allowedModels, tenant.allowedModels, 'the tenant');
    const { after } = await this.options.changes.tenant(db, actor, {
      action: 'user.create',
      kind: USER,
      write: async (trx) => {
        const created = await new UserRepository(trx).insert(user);
        if (created === null) throw new GatewayError('user_exists', { param: 'email' });
        return { before: null, after: created };
      },
    });
    return after;
  }

  async list(tenantRef: string): Promise<User[]> {
    const { db } = await this.options.tenants.open(tenantRef);
    return new UserRepository(db).list();
  }

  async get(tenantRef: string, userId: string): Promise<User> {
    const { db } = await this.options.tenants.open(tenantRef);
    return found(await new UserRepository(db).find(userId));
  }

  async update(
    tenantRef: string,
    userId: string,
    patch: { name?: string; role?: TenantRole; allowedModels?: string[] | null },
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<User> {
    const changes: UserChanges = {};
    if (patch.name !== undefined) changes.name = validName(patch.name);
    if (patch.role !== undefined) changes.role = validRole(patch.role);
    if (patch.allowedModels !== undefined) {
      changes.allowedModels = validAllowedModels(patch.allowedModels);
      const { tenant } = await this.options.tenants.open(tenantRef);
      checkWithin(changes.allowedModels, tenant.allowedModels, 'the tenant');
    }
    if (Object.keys(changes).length === 0) return this.get(tenantRef, userId);
    // Cached keys carry their user's models: drop them on every instance.
    const models = changes.allowedModels !== undefined;
    return this.write(tenantRef, userId, changes, actor, 'user.update', models);
  }

  async setStatus(
    tenantRef: string,
    userId: string,
    status: UserStatus,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<User> {
    if (!USER_STATUSES.includes(status)) {
      throw invalid('status', `Invalid status '${String(status)}': use active or disabled.`);
    }
    const action = `user.${status === 'disabled' ? 'disable' : 'enable'}`;
    // The user's keys stop (or start again) working at once: cached keys are dropped.
    return this.write(tenantRef, userId, { status }, actor, action, true);
  }

  private async write(
    tenantRef: string,
    userId: string,
    changes: UserChanges,
    actor: Actor,
    action: string,
    dropKeys: boolean,
  ): Promise<User> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const { after } = await this.options.changes.tenant(db, actor, {
      action,
      kind: USER,
      write: async (trx) => {
        const users = new UserRepository(trx);
        const before = found(await users.find(userId));
        return { before, after: found(await users.update(userId, changes)) };
      },
      invalidate: () => (dropKeys ? { tenantId: tenant.id } : null),
    });
    return after;
  }
}

function found(user: User | null): User {
  if (user === null) throw new GatewayError('user_not_found', { param: 'user' });
  return user;
}
