import type { Kysely, Selectable } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import type { TenantRole, TenantSchema, UsersTable } from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import { checkWithin, validAllowedModels } from '../access/model-access.js';
import { TENANT_ROLES } from '../access/permissions.js';
import { type Actor, appendAudit, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { InvalidationBus } from '../keys/invalidation.js';
import type { Tenant, TenantService } from './tenant-service.js';

export type UserStatus = 'active' | 'disabled';

export interface User {
  id: string;
  email: string;
  name: string;
  role: TenantRole;
  status: UserStatus;
  /** The models the user's keys may use, within the tenant's; null: no limit of its own. */
  allowedModels: string[] | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface UserServiceOptions {
  tenants: TenantService;
  /** Told when a user is disabled or enabled, so the keys they own follow at once. */
  bus?: InvalidationBus;
}

/** What the audit log keeps of a user. */
function snapshot(user: User): Record<string, unknown> {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    status: user.status,
    allowed_models: user.allowedModels,
  };
}

// Deliberately loose: one '@', a dot in the domain, no spaces. Deliverability is the mail
// server's business; this only catches typos and pasted junk.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const EMAIL_MAX = 254;
const NAME_MAX = 200;
const STATUSES: readonly string[] = ['active', 'disabled'] satisfies UserStatus[];

interface UserChanges {
  name?: string;
  role?: TenantRole;
  status?: UserStatus;
  allowed_models?: string[] | null;
}

function toUser(row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    status: row.status,
    allowedModels: row.allowed_models,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

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
    const email = validEmail(input.email);
    const name = validName(input.name);
    const role = validRole(input.role);
    const allowedModels = validAllowedModels(input.allowedModels ?? null);
    const { tenant, db } = await this.open(tenantRef);
    checkWithin(allowedModels, tenant.allowedModels, 'the tenant');
    const now = new Date();
    // `do nothing` rather than a lookup first: two concurrent creates cannot both pass.
    const row = await db
      .insertInto('users')
      .values({
        id: newId('usr'),
        email,
        name,
        role,
        allowed_models: allowedModels,
        created_at: now,
        updated_at: now,
      })
      .onConflict((conflict) => conflict.column('email').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw new GatewayError('user_exists', { param: 'email' });
    const user = toUser(row);
    await this.audit(db, actor, 'user.create', null, user);
    return user;
  }

  private async audit(
    db: Kysely<TenantSchema>,
    actor: Actor,
    action: string,
    before: User | null,
    after: User,
  ) {
    await appendAudit(db as Kysely<unknown>, 'audit_log', actor, {
      action,
      targetType: 'user',
      targetId: after.id,
      before: before && snapshot(before),
      after: snapshot(after),
    });
  }

  async list(tenantRef: string): Promise<User[]> {
    const db = await this.database(tenantRef);
    const rows = await db.selectFrom('users').selectAll().orderBy('id').execute();
    return rows.map(toUser);
  }

  async get(tenantRef: string, userId: string): Promise<User> {
    const db = await this.database(tenantRef);
    const row = await db
      .selectFrom('users')
      .selectAll()
      .where('id', '=', userId)
      .executeTakeFirst();
    if (row === undefined) throw new GatewayError('user_not_found', { param: 'user' });
    return toUser(row);
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
      changes.allowed_models = validAllowedModels(patch.allowedModels);
      const { tenant } = await this.open(tenantRef);
      checkWithin(changes.allowed_models, tenant.allowedModels, 'the tenant');
    }
    if (Object.keys(changes).length === 0) return this.get(tenantRef, userId);
    const user = await this.write(tenantRef, userId, changes, actor, 'user.update');
    // Cached keys carry their user's models: drop them on every instance.
    if (changes.allowed_models !== undefined) await this.announce(tenantRef);
    return user;
  }

  private async announce(tenantRef: string): Promise<void> {
    const tenant = await this.options.tenants.get(tenantRef);
    await this.options.bus?.publish({ tenantId: tenant.id });
  }

  async setStatus(
    tenantRef: string,
    userId: string,
    status: UserStatus,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<User> {
    if (!STATUSES.includes(status)) {
      throw invalid('status', `Invalid status '${String(status)}': use active or disabled.`);
    }
    const user = await this.write(
      tenantRef,
      userId,
      { status },
      actor,
      `user.${status === 'disabled' ? 'disable' : 'enable'}`,
    );
    // The user's keys stop (or start again) working at once: cached keys are dropped.
    await this.announce(tenantRef);
    return user;
  }

  private async write(
    tenantRef: string,
    userId: string,
    changes: UserChanges,
    actor: Actor,
    action: string,
  ): Promise<User> {
    const db = await this.database(tenantRef);
    const before = await this.get(tenantRef, userId);
    const row = await db
      .updateTable('users')
      .set({ ...changes, updated_at: new Date() })
      .where('id', '=', userId)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw new GatewayError('user_not_found', { param: 'user' });
    const user = toUser(row);
    await this.audit(db, actor, action, before, user);
    return user;
  }

  /**
   * The tenant's database. A disabled tenant is still administered (that is how it gets
   * fixed); one being provisioned or deleted is treated as absent.
   */
  private async database(tenantRef: string): Promise<Kysely<TenantSchema>> {
    return (await this.open(tenantRef)).db;
  }

  private async open(tenantRef: string): Promise<{ tenant: Tenant; db: Kysely<TenantSchema> }> {
    const tenant = await this.options.tenants.get(tenantRef);
    if (tenant.status === 'deleting' || tenant.status === 'provisioning') {
      throw new GatewayError('tenant_not_found', { param: 'tenant' });
    }
    return { tenant, db: this.options.tenants.database(tenant) };
  }
}
