import type { Kysely, Selectable } from 'kysely';
import type { TenantRole } from '../../domain/roles.js';
import type { User, UserStatus } from '../../domain/user.js';
import type { TenantSchema, UsersTable } from '../tenant-schema.js';

export interface NewUser {
  id: string;
  email: string;
  name: string;
  role: TenantRole;
  allowedModels: string[] | null;
}

export interface UserChanges {
  name?: string;
  role?: TenantRole;
  status?: UserStatus;
  allowedModels?: string[] | null;
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

/** A tenant's users, in its own database. */
export class UserRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  async list(): Promise<User[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('id').execute();
    return rows.map(toUser);
  }

  async find(id: string): Promise<User | null> {
    const row = await this.db
      .selectFrom('users')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? null : toUser(row);
  }

  /** Null when the email is taken: the unique index decides, so two creates cannot both pass. */
  async insert(user: NewUser, now = new Date()): Promise<User | null> {
    const row = await this.db
      .insertInto('users')
      .values({
        id: user.id,
        email: user.email,
        name: user.name,
        role: user.role,
        allowed_models: user.allowedModels,
        created_at: now,
        updated_at: now,
      })
      .onConflict((conflict) => conflict.column('email').doNothing())
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? null : toUser(row);
  }

  async update(id: string, changes: UserChanges, now = new Date()): Promise<User | null> {
    const { allowedModels, ...columns } = changes;
    const row = await this.db
      .updateTable('users')
      .set({
        ...columns,
        ...(allowedModels !== undefined && { allowed_models: allowedModels }),
        updated_at: now,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? null : toUser(row);
  }
}
