import type { Kysely, Selectable } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import type { TenantRole, TenantSchema, UsersTable } from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import { TENANT_ROLES } from '../access/permissions.js';
import type { TenantService } from './tenant-service.js';

export type UserStatus = 'active' | 'disabled';

export interface User {
  id: string;
  email: string;
  name: string;
  role: TenantRole;
  status: UserStatus;
  createdAt: Date;
  updatedAt: Date;
}

export interface UserServiceOptions {
  tenants: TenantService;
}

// Deliberately loose: one '@', a dot in the domain, no spaces. Deliverability is the mail
// server's business; this only catches typos and pasted junk.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const EMAIL_MAX = 254;
const NAME_MAX = 200;
const STATUSES: readonly string[] = ['active', 'disabled'] satisfies UserStatus[];

function toUser(row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    status: row.status,
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
    input: { email: string; name: string; role: TenantRole },
  ): Promise<User> {
    const email = validEmail(input.email);
    const name = validName(input.name);
    const role = validRole(input.role);
    const db = await this.database(tenantRef);
    const now = new Date();
    // `do nothing` rather than a lookup first: two concurrent creates cannot both pass.
    const row = await db
      .insertInto('users')
      .values({ id: newId('usr'), email, name, role, created_at: now, updated_at: now })
      .onConflict((conflict) => conflict.column('email').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw new GatewayError('user_exists', { param: 'email' });
    return toUser(row);
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
    patch: { name?: string; role?: TenantRole },
  ): Promise<User> {
    const changes: { name?: string; role?: TenantRole } = {};
    if (patch.name !== undefined) changes.name = validName(patch.name);
    if (patch.role !== undefined) changes.role = validRole(patch.role);
    if (Object.keys(changes).length === 0) return this.get(tenantRef, userId);
    return this.write(tenantRef, userId, changes);
  }

  async setStatus(tenantRef: string, userId: string, status: UserStatus): Promise<User> {
    if (!STATUSES.includes(status)) {
      throw invalid('status', `Invalid status '${String(status)}': use active or disabled.`);
    }
    return this.write(tenantRef, userId, { status });
  }

  private async write(
    tenantRef: string,
    userId: string,
    changes: { name?: string; role?: TenantRole; status?: UserStatus },
  ): Promise<User> {
    const db = await this.database(tenantRef);
    const row = await db
      .updateTable('users')
      .set({ ...changes, updated_at: new Date() })
      .where('id', '=', userId)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw new GatewayError('user_not_found', { param: 'user' });
    return toUser(row);
  }

  /**
   * The tenant's database. A disabled tenant is still administered (that is how it gets
   * fixed); one being provisioned or deleted is treated as absent.
   */
  private async database(tenantRef: string): Promise<Kysely<TenantSchema>> {
    const tenant = await this.options.tenants.get(tenantRef);
    if (tenant.status === 'deleting' || tenant.status === 'provisioning') {
      throw new GatewayError('tenant_not_found', { param: 'tenant' });
    }
    return this.options.tenants.database(tenant);
  }
}
