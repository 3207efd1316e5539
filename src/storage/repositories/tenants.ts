import type { Kysely, Selectable } from 'kysely';
import type { Tenant } from '../../domain/tenant.js';
import type { ControlSchema, TenantsTable } from '../control-schema.js';

export interface NewTenant {
  id: string;
  slug: string;
  name: string;
  databaseName: string;
  server: string | null;
  allowedModels: string[] | null;
}

export interface TenantChanges {
  name?: string;
  status?: 'active' | 'disabled';
  allowedModels?: string[] | null;
}

function toTenant(row: Selectable<TenantsTable>): Tenant {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    status: row.status,
    databaseName: row.database_name,
    server: row.server,
    allowedModels: row.allowed_models,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    deleteAfter: row.delete_after === null ? null : new Date(row.delete_after),
  };
}

/** The control plane's registry of tenants. */
export class TenantRepository {
  constructor(private readonly db: Kysely<ControlSchema>) {}

  async list(): Promise<Tenant[]> {
    const rows = await this.db.selectFrom('tenants').selectAll().orderBy('id').execute();
    return rows.map(toTenant);
  }

  /** By id (`tnt_...`) or slug. */
  async find(ref: string): Promise<Tenant | null> {
    const column = ref.startsWith('tnt_') ? 'id' : 'slug';
    const row = await this.db
      .selectFrom('tenants')
      .selectAll()
      .where(column, '=', ref)
      .executeTakeFirst();
    return row === undefined ? null : toTenant(row);
  }

  async findBySlug(slug: string): Promise<Tenant | null> {
    const row = await this.db
      .selectFrom('tenants')
      .selectAll()
      .where('slug', '=', slug)
      .executeTakeFirst();
    return row === undefined ? null : toTenant(row);
  }

  /** Registered as `provisioning`: not served until its database is ready. */
  async insert(tenant: NewTenant): Promise<Tenant> {
    const row = await this.db
      .insertInto('tenants')
      .values({
        id: tenant.id,
        slug: tenant.slug,
        name: tenant.name,
        database_name: tenant.databaseName,
        server: tenant.server,
        allowed_models: tenant.allowedModels,
        delete_after: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toTenant(row);
  }

  /**
   * Its database is ready: the tenant is served from now on, with the name and models the
   * (last) create asked for.
   */
  async activate(
    id: string,
    asked: { name: string; allowedModels: string[] | null },
    now = new Date(),
  ): Promise<Tenant> {
    const row = await this.db
      .updateTable('tenants')
      .set({
        status: 'active',
        name: asked.name,
        allowed_models: asked.allowedModels,
        updated_at: now,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toTenant(row);
  }

  /** A provisioning tenant's database takes another name (it was never created). */
  async renameDatabase(id: string, databaseName: string): Promise<Tenant> {
    const row = await this.db
      .updateTable('tenants')
      .set({ database_name: databaseName })
      .where('id', '=', id)
      .where('status', '=', 'provisioning')
      .returningAll()
      .executeTakeFirstOrThrow();
    return toTenant(row);
  }

  async update(id: string, changes: TenantChanges, now = new Date()): Promise<Tenant> {
    const { allowedModels, ...columns } = changes;
    const row = await this.db
      .updateTable('tenants')
      .set({
        ...columns,
        ...(allowedModels !== undefined && { allowed_models: allowedModels }),
        updated_at: now,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toTenant(row);
  }

  /** The tenant's database now lives on `server` (null: the control plane's own server). */
  async relocate(id: string, server: string | null, now = new Date()): Promise<Tenant> {
    const row = await this.db
      .updateTable('tenants')
      .set({ server, updated_at: now })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toTenant(row);
  }

  async markDeleting(id: string, deleteAfter: Date, now = new Date()): Promise<Tenant> {
    const row = await this.db
      .updateTable('tenants')
      .set({ status: 'deleting', delete_after: deleteAfter, updated_at: now })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toTenant(row);
  }

  /** Deleted tenants whose grace period is over at `now`, by id. */
  async due(now: Date): Promise<Tenant[]> {
    const rows = await this.db
      .selectFrom('tenants')
      .selectAll()
      .where('status', '=', 'deleting')
      .where('delete_after', '<=', now)
      .orderBy('id')
      .execute();
    return rows.map(toTenant);
  }

  /**
   * Moves a due tenant's `delete_after` to `until`: a concurrent claimer's UPDATE waits for
   * this one, then no longer sees the row as due. False: it was not due (any more).
   */
  async claim(id: string, now: Date, until: Date): Promise<boolean> {
    const claimed = await this.db
      .updateTable('tenants')
      .set({ delete_after: until })
      .where('id', '=', id)
      .where('status', '=', 'deleting')
      .where('delete_after', '<=', now)
      .returning('id')
      .executeTakeFirst();
    return claimed !== undefined;
  }

  /** Whether the claim made until `claim` still holds (nobody took the tenant over since). */
  async holdsClaim(id: string, claim: Date): Promise<boolean> {
    const owned = await this.db
      .updateTable('tenants')
      .set({ delete_after: claim })
      .where('id', '=', id)
      .where('delete_after', '=', claim)
      .returning('id')
      .executeTakeFirst();
    return owned !== undefined;
  }

  /** Gives a claimed tenant back its own `delete_after`, unless someone took it over. */
  async release(id: string, claim: Date, deleteAfter: Date | null): Promise<void> {
    await this.db
      .updateTable('tenants')
      .set({ delete_after: deleteAfter })
      .where('id', '=', id)
      .where('delete_after', '=', claim)
      .execute();
  }

  async remove(id: string): Promise<void> {
    await this.db.deleteFrom('tenants').where('id', '=', id).execute();
  }
}
