import { basename } from 'node:path';
import type { Kysely } from 'kysely';
import { DEFAULT_DATABASE_SERVER } from '../../config/database-servers.js';
import { type Actor, SYSTEM_ACTOR } from '../../domain/audit-entry.js';
import type { EntityKind } from '../../domain/entity.js';
import { TENANT, TENANT_SLUG, type Tenant, tenantJson } from '../../domain/tenant.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import { migrateToLatest } from '../../storage/migrations/index.js';
import { type TenantChanges, TenantRepository } from '../../storage/repositories/tenants.js';
import type { TenantConnections } from '../../storage/tenant-connections.js';
import { exportTenantDatabase } from '../../storage/tenant-export.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import { validAllowedModels } from '../access/model-access.js';
import { ChangeRecorder } from '../audit/changes.js';

export type { Tenant };
export { TENANT_SLUG };

export interface TenantServiceOptions {
  control: Kysely<ControlSchema>;
  /** The tenant databases' pools, and through them the servers they live on. */
  connections: TenantConnections;
  /** How long a deleted tenant's database is kept before it is dropped. */
  deletionGraceMs: number;
  /** Where a tenant's final export is written before its database is dropped. */
  exportDirectory: string;
  /**
   * Writes, audits and announces each change: a tenant that stops (or resumes) being served
   * drops its cached keys on every instance at once. Default: one that announces nothing.
   */
  changes?: ChangeRecorder;
}

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

/** A tenant as its purge left it: with the name of its final export (null: it had none). */
type Purged = Tenant & { exportFile?: string | null };

const PURGED: EntityKind<Purged> = {
  ...TENANT,
  json: ({ exportFile, ...tenant }) => ({
    ...tenantJson(tenant),
    ...(exportFile !== undefined && { export_file: exportFile }),
  }),
};

const notFound = () => new GatewayError('tenant_not_found', { param: 'tenant' });

/** Provisioning or deleting: not there for anything but creating and purging. */
const inTransit = (tenant: Tenant) =>
  tenant.status === 'deleting' || tenant.status === 'provisioning';

/**
 * The tenant registry and each tenant's own database. Provisioning is resumable: a tenant
 * stays `provisioning` until its database exists and is migrated, and creating it again
 * picks up where a failure left off.
 */
export class TenantService {
  private readonly registry: TenantRepository;
  private readonly changes: ChangeRecorder;

  constructor(private readonly options: TenantServiceOptions) {
    this.registry = new TenantRepository(options.control);
    this.changes = options.changes ?? new ChangeRecorder();
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
    const registered = await this.registered(input.slug, server, input.name, allowedModels);
    const { connections } = this.options;
    await connections.servers.primary(registered.server).create(registered.databaseName);
    await migrateToLatest(connections.get(registered) as Kysely<unknown>, 'tenant');
    const { after } = await this.changes.platform(this.options.control, actor, {
      action: 'tenant.create',
      kind: TENANT,
      write: async (trx) => ({
        before: null,
        after: await new TenantRepository(trx).activate(registered.id),
      }),
    });
    return after;
  }

  /** The tenant's row, `provisioning`: the one a failed create left, or a new one. */
  private async registered(
    slug: string,
    server: string | null,
    name: string,
    allowedModels: string[] | null,
  ): Promise<Tenant> {
    const existing = await this.registry.findBySlug(slug);
    if (existing !== null && existing.status !== 'provisioning') {
      throw new GatewayError('tenant_exists', { param: 'slug' });
    }
    // Its database may exist already there: resuming elsewhere would strand it.
    if (existing !== null && existing.server !== server) {
      throw new GatewayError('invalid_request', {
        message: `Tenant '${slug}' is being provisioned on server '${existing.server ?? DEFAULT_DATABASE_SERVER}': create it there to resume.`,
        param: 'server',
      });
    }
    if (existing !== null) return existing;
    const id = newId('tnt');
    return this.registry.insert({
      id,
      slug,
      name,
      // The control database's name as stem keeps names unique on every server.
      databaseName: `${this.options.connections.servers.control.controlDatabase}_${id}`,
      server,
      allowedModels,
    });
  }

  async list(): Promise<Tenant[]> {
    return this.registry.list();
  }

  /** By id (`tnt_...`) or slug, whatever its status. */
  async get(ref: string): Promise<Tenant> {
    const tenant = await this.registry.find(ref);
    if (tenant === null) throw notFound();
    return tenant;
  }

  async rename(ref: string, name: string, actor: Actor = SYSTEM_ACTOR): Promise<Tenant> {
    return this.update(ref, { name }, actor, 'tenant.update', false);
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
    return this.update(ref, { allowedModels }, actor, 'tenant.update', true);
  }

  async setStatus(
    ref: string,
    status: 'active' | 'disabled',
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Tenant> {
    const action = status === 'disabled' ? 'tenant.disable' : 'tenant.enable';
    return this.update(ref, { status }, actor, action, true);
  }

  private async update(
    ref: string,
    changes: TenantChanges,
    actor: Actor,
    action: string,
    dropKeys: boolean,
  ): Promise<Tenant> {
    const tenant = await this.get(ref);
    if (inTransit(tenant)) throw notFound();
    const { after } = await this.changes.platform(this.options.control, actor, {
      action,
      kind: TENANT,
      write: async (trx) => ({
        before: tenant,
        after: await new TenantRepository(trx).update(tenant.id, changes),
      }),
      invalidate: () => (dropKeys ? { tenantId: tenant.id } : null),
    });
    return after;
  }

  /** Marks the tenant deleted: refused from now on, its database dropped after the grace period. */
  async delete(ref: string, now = new Date(), actor: Actor = SYSTEM_ACTOR): Promise<Tenant> {
    const tenant = await this.get(ref);
    // Deleting again keeps the first deadline: a retried request must not postpone the drop.
    if (tenant.status === 'deleting') return tenant;
    const deleteAfter = new Date(now.getTime() + this.options.deletionGraceMs);
    const { after } = await this.changes.platform(this.options.control, actor, {
      action: 'tenant.delete',
      kind: TENANT,
      write: async (trx) => ({
        before: tenant,
        after: await new TenantRepository(trx).markDeleting(tenant.id, deleteAfter, now),
      }),
      invalidate: () => ({ tenantId: tenant.id }),
    });
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
    const result: PurgeResult = { purged: [], failed: [] };
    for (const tenant of await this.registry.due(now)) {
      if (options.signal?.aborted) break;
      // Moved past `now` for as long as the purge may take: someone else's, if refused.
      const claim = new Date(now.getTime() + PURGE_CLAIM_MS);
      if (!(await this.registry.claim(tenant.id, now, claim))) continue;
      try {
        await this.purgeClaimed(tenant, claim, actor, options.signal);
        result.purged.push(tenant.id);
      } catch (error) {
        // Given back its own deadline for the next purge; should even this fail, the claim
        // expires and a later purge retries the tenant.
        await this.registry.release(tenant.id, claim, tenant.deleteAfter).catch(() => {});
        result.failed.push({
          id: tenant.id,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    return result;
  }

  private async purgeClaimed(
    tenant: Tenant,
    claim: Date,
    actor: Actor,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const { connections, exportDirectory } = this.options;
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
    if (!(await this.registry.holdsClaim(tenant.id, claim)))
      throw new Error('claim expired during the export; not dropped');
    await connections.release(tenant);
    await server.drop(tenant.databaseName);
    await this.changes.platform(this.options.control, actor, {
      action: 'tenant.purge',
      kind: PURGED,
      write: async (trx) => {
        await new TenantRepository(trx).remove(tenant.id);
        return { before: tenant, after: { ...tenant, exportFile } };
      },
    });
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
    if (inTransit(tenant)) throw notFound();
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
