import { basename } from 'node:path';
import type { Kysely, Selectable } from 'kysely';
import { DEFAULT_DATABASE_SERVER } from '../../config/database-servers.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ControlSchema, TenantStatus, TenantsTable } from '../../storage/control-schema.js';
import { isDatabaseName, tenantDatabaseName } from '../../storage/database-server.js';
import { migrateToLatest } from '../../storage/migrations/index.js';
import type { TenantConnections } from '../../storage/tenant-connections.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import { validAllowedModels } from '../access/model-access.js';
import { type Actor, appendAudit, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { InvalidationBus } from '../keys/invalidation.js';
import { exportTenantDatabase } from './tenant-export.js';

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  status: TenantStatus;
  databaseName: string;
  /** The server its database lives on, by name in `database_servers`; null: the default. */
  server: string | null;
  /** The models the tenant may use (platform admins set it); null: every configured model. */
  allowedModels: string[] | null;
  createdAt: Date;
  updatedAt: Date;
  deleteAfter: Date | null;
}

export interface TenantServiceOptions {
  control: Kysely<ControlSchema>;
  /** The tenant databases' pools, and through them the servers they live on. */
  connections: TenantConnections;
  /** How long a deleted tenant's database is kept before it is dropped. */
  deletionGraceMs: number;
  /** Where a tenant's final export is written before its database is dropped. */
  exportDirectory: string;
  /** Told when a tenant stops (or resumes) being served, so cached keys follow at once. */
  bus?: InvalidationBus;
}

export const TENANT_SLUG = /^[a-z0-9][a-z0-9-]{1,62}$/;

/** What a purge did: tenants exported and dropped, and those left `deleting` for the next one. */
export interface PurgeResult {
  purged: string[];
  failed: { id: string; error: string }[];
}

export interface PurgeOptions {
  /** Stops before the next tenant, and aborts a running export (that tenant is kept). */
  signal?: AbortSignal;
}

/**
 * How long a purger owns a tenant it claimed. A purger that dies mid-way leaves its claim to
 * expire, after which the next purge takes the tenant over; longer than any export should take.
 */
const PURGE_CLAIM_MS = 6 * 3_600_000;

/** What the audit log keeps of a tenant. */
function snapshot(tenant: Tenant): Record<string, unknown> {
  return {
    id: tenant.id,
    slug: tenant.slug,
    name: tenant.name,
    status: tenant.status,
    server: tenant.server,
    allowed_models: tenant.allowedModels,
    delete_after: tenant.deleteAfter?.toISOString() ?? null,
  };
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

/**
 * The tenant registry and each tenant's own database. Provisioning is resumable: a tenant
 * stays `provisioning` until its database exists and is migrated, and creating it again
 * picks up where a failure left off.
 */
export class TenantService {
  constructor(private readonly options: TenantServiceOptions) {}

  private async audit(
    actor: Actor,
    action: string,
    before: Tenant | null,
    after: Tenant,
    details: Record<string, unknown> = {},
  ) {
    await appendAudit(this.options.control as Kysely<unknown>, 'platform_audit_log', actor, {
      action,
      targetType: 'tenant',
      targetId: after.id,
      before: before && snapshot(before),
      after: { ...snapshot(after), ...details },
    });
  }

  /** A configured server's name as the registry keeps it: null for the default. */
  private serverOf(name: string | null | undefined): string | null {
    if (name === undefined || name === null || name === DEFAULT_DATABASE_SERVER) return null;
    const { servers } = this.options.connections;
    if (!servers.has(name)) {
      throw new GatewayError('invalid_request', {
        message: `Unknown database server '${name}': use one of ${servers.names().join(', ')} (database_servers in the config file).`,
        param: 'server',
      });
    }
    return name;
  }

  /**
   * Registers the tenant, then creates and migrates its database on `server` (a name in
   * `database_servers`; default: the control plane's server).
   */
  async create(
    input: { slug: string; name: string; server?: string | null; allowedModels?: string[] | null },
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Tenant> {
    if (!TENANT_SLUG.test(input.slug)) {
      throw new GatewayError('invalid_request', {
        message: `Invalid slug '${input.slug}': use 2 to 63 lowercase letters, digits and '-'.`,
        param: 'slug',
      });
    }
    const server = this.serverOf(input.server);
    const allowedModels = validAllowedModels(input.allowedModels ?? null);
    const { control, connections } = this.options;
    const existing = await control
      .selectFrom('tenants')
      .selectAll()
      .where('slug', '=', input.slug)
      .executeTakeFirst();
    if (existing !== undefined && existing.status !== 'provisioning') {
      throw new GatewayError('tenant_exists', { param: 'slug' });
    }
    // Its database may exist already there: resuming elsewhere would strand it.
    if (existing !== undefined && existing.server !== server) {
      throw new GatewayError('invalid_request', {
        message: `Tenant '${input.slug}' is being provisioned on server '${existing.server ?? DEFAULT_DATABASE_SERVER}': create it there to resume.`,
        param: 'server',
      });
    }
    const controlDatabase = connections.servers.control.controlDatabase;
    let row = existing;
    if (row === undefined) {
      const id = newId('tnt');
      row = await control
        .insertInto('tenants')
        .values({
          id,
          slug: input.slug,
          name: input.name,
          database_name: tenantDatabaseName(controlDatabase, id),
          server,
          allowed_models: allowedModels,
          delete_after: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    } else if (!isDatabaseName(row.database_name)) {
      // Left by a version that named databases after any control database verbatim: no
      // database can exist under a name PostgreSQL refused, so the row may take a valid one.
      row = await control
        .updateTable('tenants')
        .set({ database_name: tenantDatabaseName(controlDatabase, row.id) })
        .where('id', '=', row.id)
        .returningAll()
        .executeTakeFirstOrThrow();
    }
    const target = { server: row.server, databaseName: row.database_name };
    await connections.servers.primary(target.server).create(target.databaseName);
    await migrateToLatest(connections.get(target) as Kysely<unknown>, 'tenant');
    const active = await control
      .updateTable('tenants')
      // A retry's name and models are what its caller asked for now.
      .set({
        status: 'active',
        name: input.name,
        allowed_models: allowedModels,
        updated_at: new Date(),
      })
      .where('id', '=', row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const tenant = toTenant(active);
    await this.audit(actor, 'tenant.create', null, tenant);
    return tenant;
  }

  async list(): Promise<Tenant[]> {
    const rows = await this.options.control
      .selectFrom('tenants')
      .selectAll()
      .orderBy('id')
      .execute();
    return rows.map(toTenant);
  }

  /** By id (`tnt_...`) or slug. */
  async get(ref: string): Promise<Tenant> {
    const column = ref.startsWith('tnt_') ? 'id' : 'slug';
    const row = await this.options.control
      .selectFrom('tenants')
      .selectAll()
      .where(column, '=', ref)
      .executeTakeFirst();
    if (row === undefined) throw new GatewayError('tenant_not_found', { param: 'tenant' });
    return toTenant(row);
  }

  async rename(ref: string, name: string, actor: Actor = SYSTEM_ACTOR): Promise<Tenant> {
    const tenant = await this.get(ref);
    if (tenant.status === 'deleting' || tenant.status === 'provisioning') {
      throw new GatewayError('tenant_not_found', { param: 'tenant' });
    }
    const row = await this.options.control
      .updateTable('tenants')
      .set({ name, updated_at: new Date() })
      .where('id', '=', tenant.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const after = toTenant(row);
    await this.audit(actor, 'tenant.update', tenant, after);
    return after;
  }

  /**
   * Sets the models the tenant may use (null: every model). Every cached key of the tenant is
   * dropped on every instance, so the change holds from the next request on.
   */
  async setAllowedModels(
    ref: string,
    models: string[] | null,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Tenant> {
    const allowedModels = validAllowedModels(models);
    const tenant = await this.get(ref);
    if (tenant.status === 'deleting' || tenant.status === 'provisioning') {
      throw new GatewayError('tenant_not_found', { param: 'tenant' });
    }
    const row = await this.options.control
      .updateTable('tenants')
      .set({ allowed_models: allowedModels, updated_at: new Date() })
      .where('id', '=', tenant.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const after = toTenant(row);
    await this.audit(actor, 'tenant.update', tenant, after);
    await this.options.bus?.publish({ tenantId: tenant.id });
    return after;
  }

  async setStatus(
    ref: string,
    status: 'active' | 'disabled',
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Tenant> {
    const tenant = await this.get(ref);
    if (tenant.status === 'deleting' || tenant.status === 'provisioning') {
      throw new GatewayError('tenant_not_found', { param: 'tenant' });
    }
    const row = await this.options.control
      .updateTable('tenants')
      .set({ status, updated_at: new Date() })
      .where('id', '=', tenant.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const after = toTenant(row);
    await this.audit(
      actor,
      status === 'disabled' ? 'tenant.disable' : 'tenant.enable',
      tenant,
      after,
    );
    await this.options.bus?.publish({ tenantId: tenant.id });
    return after;
  }

  /** Marks the tenant deleted: refused from now on, its database dropped after the grace period. */
  async delete(ref: string, now = new Date(), actor: Actor = SYSTEM_ACTOR): Promise<Tenant> {
    const tenant = await this.get(ref);
    // Deleting again keeps the first deadline: a retried request must not postpone the drop.
    if (tenant.status === 'deleting') return tenant;
    const deleteAfter = new Date(now.getTime() + this.options.deletionGraceMs);
    const row = await this.options.control
      .updateTable('tenants')
      .set({ status: 'deleting', delete_after: deleteAfter, updated_at: now })
      .where('id', '=', tenant.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const after = toTenant(row);
    await this.audit(actor, 'tenant.delete', tenant, after);
    await this.options.bus?.publish({ tenantId: tenant.id });
    return after;
  }

  /**
   * Exports, then drops, the databases of tenants deleted longer ago than the grace period.
   * A tenant whose export fails is kept, still `deleting`, for the next purge; the others go
   * on. Several purgers may run at once (instances, the CLI): each tenant is claimed first, so
   * it is exported and dropped by one of them only.
   */
  async purge(
    now = new Date(),
    actor: Actor = SYSTEM_ACTOR,
    options: PurgeOptions = {},
  ): Promise<PurgeResult> {
    const due = await this.options.control
      .selectFrom('tenants')
      .selectAll()
      .where('status', '=', 'deleting')
      .where('delete_after', '<=', now)
      .orderBy('id')
      .execute();
    const result: PurgeResult = { purged: [], failed: [] };
    for (const row of due) {
      if (options.signal?.aborted) break;
      const claim = await this.claim(row, now);
      if (claim === null) continue;
      try {
        await this.purgeClaimed(toTenant(row), claim, actor, options.signal);
        result.purged.push(row.id);
      } catch (error) {
        // Should even this fail, the claim expires and a later purge retries the tenant.
        await this.release(row, claim).catch(() => {});
        result.failed.push({
          id: row.id,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    return result;
  }

  /**
   * Moves `delete_after` past `now` for as long as the purge may take: a concurrent purger's
   * UPDATE waits for this one, then no longer sees the row as due. Null: someone else has it.
   */
  private async claim(row: Selectable<TenantsTable>, now: Date): Promise<Date | null> {
    const until = new Date(now.getTime() + PURGE_CLAIM_MS);
    const claimed = await this.options.control
      .updateTable('tenants')
      .set({ delete_after: until })
      .where('id', '=', row.id)
      .where('status', '=', 'deleting')
      .where('delete_after', '<=', now)
      .returning('id')
      .executeTakeFirst();
    return claimed === undefined ? null : until;
  }

  /** Gives a failed tenant back its own `delete_after`, so the next purge retries it. */
  private async release(row: Selectable<TenantsTable>, claim: Date): Promise<void> {
    await this.options.control
      .updateTable('tenants')
      .set({ delete_after: row.delete_after })
      .where('id', '=', row.id)
      .where('delete_after', '=', claim)
      .execute();
  }

  private async purgeClaimed(
    tenant: Tenant,
    claim: Date,
    actor: Actor,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const { control, connections, exportDirectory } = this.options;
    const server = connections.servers.primary(tenant.server);
    // A tenant whose provisioning failed before its database existed has nothing to export.
    let exportFile: string | null = null;
    if (await server.exists(tenant.databaseName)) {
      // The primary: a replica that lags would leave the newest rows out of the last copy.
      const path = await exportTenantDatabase(
        connections.get(tenant) as Kysely<unknown>,
        tenant,
        exportDirectory,
        { signal },
      );
      exportFile = basename(path);
    }
    // Still ours? Only if the claim outlived the export; otherwise the new owner drops it.
    const owned = await control
      .updateTable('tenants')
      .set({ delete_after: claim })
      .where('id', '=', tenant.id)
      .where('delete_after', '=', claim)
      .returning('id')
      .executeTakeFirst();
    if (owned === undefined) throw new Error('claim expired during the export; not dropped');
    await connections.release(tenant);
    await server.drop(tenant.databaseName);
    await control.deleteFrom('tenants').where('id', '=', tenant.id).execute();
    await this.audit(actor, 'tenant.purge', tenant, tenant, { export_file: exportFile });
  }

  /** Brings every tenant database to the latest schema, one at a time, reporting progress. */
  async migrateAll(
    onProgress: (done: number, total: number, tenant: Tenant, applied: string[]) => void = () => {},
  ): Promise<void> {
    const tenants = (await this.list()).filter((tenant) => tenant.status !== 'deleting');
    const { connections } = this.options;
    for (const [index, tenant] of tenants.entries()) {
      await connections.servers.primary(tenant.server).create(tenant.databaseName);
      const applied = await migrateToLatest(connections.get(tenant) as Kysely<unknown>, 'tenant');
      onProgress(index + 1, tenants.length, tenant, applied);
    }
  }

  /**
   * A tenant to administer and its database. A disabled tenant is still administered (that
   * is how it gets fixed); one being provisioned or deleted is treated as absent.
   */
  async open(ref: string): Promise<{ tenant: Tenant; db: Kysely<TenantSchema> }> {
    const tenant = await this.get(ref);
    if (tenant.status === 'deleting' || tenant.status === 'provisioning') {
      throw new GatewayError('tenant_not_found', { param: 'tenant' });
    }
    return { tenant, db: this.database(tenant) };
  }

  /** The tenant's database on its own server: for writes, and reads of one's own writes. */
  database(tenant: Tenant) {
    return this.options.connections.get(tenant);
  }

  /**
   * The tenant's database on its server's read replica where there is one, else the primary.
   * Only for reads that tolerate lag (audit log listings, usage reports): a row written a
   * moment ago may not be there yet.
   */
  readDatabase(tenant: Tenant) {
    return this.options.connections.read(tenant);
  }
}
