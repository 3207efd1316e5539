import type { Kysely } from 'kysely';
import { DEFAULT_DATABASE_SERVER } from '../../config/database-servers.js';
import { type Actor, SYSTEM_ACTOR } from '../../domain/audit-entry.js';
import { TENANT, TENANT_SLUG, type Tenant } from '../../domain/tenant.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import { isDatabaseName, tenantDatabaseName } from '../../storage/database-server.js';
import {
  type NewTenant,
  type TenantChanges,
  TenantRepository,
} from '../../storage/repositories/tenants.js';
import type { TenantConnections } from '../../storage/tenant-connections.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import { validAllowedModels } from '../access/model-access.js';
import { ChangeRecorder } from '../audit/changes.js';
import type { TenantPlacement } from './placement.js';
import { fenceLowered, MemoryTenantFence, type TenantFence } from './tenant-fence.js';
import { type MoveOptions, type MoveResult, moveTenant } from './tenant-move.js';
import { type PurgeOptions, type PurgeResult, purgeDue } from './tenant-purge.js';

export type { MoveOptions, MoveResult, PurgeOptions, PurgeResult, Tenant };
export { TENANT_SLUG };

export interface TenantServiceOptions {
  control: Kysely<ControlSchema>;
  /** The tenant databases' pools, and through them the servers they live on. */
  connections: TenantConnections;
  /** How long a deleted tenant's database is kept before it is dropped. */
  deletionGraceMs: number;
  /** Chooses the server of a tenant created without one; absent: the control plane's. */
  placement?: TenantPlacement;
  /** Where a tenant's final export is written before its database is dropped. */
  exportDirectory: string;
  /**
   * Writes, audits and announces each change: a tenant that stops (or resumes) being served
   * drops its cached keys on every instance at once. Default: one that announces nothing.
   */
  changes?: ChangeRecorder;
  /**
   * Empties the tenant's response caches once it is deleted (and again when it is purged):
   * copies of its answers must not outlive it. Never throws, and is bounded: a cache store
   * that is away must not block a deletion.
   */
  forgetCaches?: (tenantId: string) => Promise<void>;
  /**
   * Tenants whose writes pause while their database moves (shared by every instance with
   * Redis). Default: one of this process only.
   */
  fence?: TenantFence;
}

/** How long an operation on a tenant waits for a move's pause to end before it gives up. */
export const FENCE_WAIT_MS = 5000;

const moving = () =>
  new GatewayError('tenant_moving', {
    headers: { 'retry-after': String(Math.ceil(FENCE_WAIT_MS / 1000)) },
  });

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
  private readonly fence: TenantFence;

  constructor(private readonly options: TenantServiceOptions) {
    this.registry = new TenantRepository(options.control);
    this.changes = options.changes ?? new ChangeRecorder();
    this.fence = options.fence ?? new MemoryTenantFence();
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
   * The tenant's `provisioning` row: on the server named, or for none where the placement
   * chooses. A slug registered already is left to `registered()`: it refuses a taken slug,
   * and resumes a provisioning only on the server named for it, as without placement.
   */
  private async registration(
    input: { slug: string; name: string; server?: string | null },
    allowedModels: string[] | null,
  ): Promise<Tenant> {
    const { placement } = this.options;
    const named = input.server !== undefined && input.server !== null;
    if (named || placement === undefined || (await this.registry.findBySlug(input.slug)) !== null)
      return this.registered(
        input.slug,
        named ? this.serverOf(input.server) : null,
        input.name,
        allowedModels,
      );
    return placement.place((trx, server) =>
      new TenantRepository(trx).insert(
        this.newTenant(input.slug, input.name, server, allowedModels),
      ),
    );
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
    const allowedModels = validAllowedModels(input.allowedModels ?? null);
    const registered = await this.registration(input, allowedModels);
    const { connections } = this.options;
    await connections.servers.primary(registered.server).create(registered.databaseName);
    await connections.migrate(registered);
    const { after } = await this.changes.platform(this.options.control, actor, {
      action: 'tenant.create',
      kind: TENANT,
      write: async (trx) => ({
        before: null,
        // A retry's name and models are what its caller asked for now.
        after: await new TenantRepository(trx).activate(registered.id, {
          name: input.name,
          allowedModels,
        }),
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
    const controlDatabase = this.options.connections.servers.control.controlDatabase;
    // Left by a version that named databases after any control database verbatim: no
    // database can exist under a name PostgreSQL refused, so the row may take a valid one.
    if (existing !== null && !isDatabaseName(existing.databaseName))
      return this.registry.renameDatabase(
        existing.id,
        tenantDatabaseName(controlDatabase, existing.id),
      );
    if (existing !== null) return existing;
    return this.registry.insert(this.newTenant(slug, name, server, allowedModels));
  }

  private newTenant(
    slug: string,
    name: string,
    server: string | null,
    allowedModels: string[] | null,
  ): NewTenant {
    const id = newId('tnt');
    const controlDatabase = this.options.connections.servers.control.controlDatabase;
    return {
      id,
      slug,
      name,
      databaseName: tenantDatabaseName(controlDatabase, id),
      server,
      allowedModels,
    };
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
    await this.options.forgetCaches?.(tenant.id);
    return after;
  }

  /**
   * Exports, then drops, the databases of tenants deleted longer ago than the grace period
   * (see tenant-purge.ts). A tenant whose export fails is kept, still `deleting`, for the next
   * purge; several purgers may run at once, each tenant is purged by one of them only.
   */
  purge(
    now = new Date(),
    actor: Actor = SYSTEM_ACTOR,
    options: PurgeOptions = {},
  ): Promise<PurgeResult> {
    const { control, connections, exportDirectory } = this.options;
    const { forgetCaches } = this.options;
    const purger = { control, connections, exportDirectory, changes: this.changes, forgetCaches };
    return purgeDue(purger, now, actor, options);
  }

  /**
   * Brings every tenant database to the latest schema, `concurrency` at a time (default one),
   * reporting progress as each is done.
   */
  async migrateAll(
    onProgress: (done: number, total: number, tenant: Tenant, applied: string[]) => void = () => {},
    concurrency = 1,
  ): Promise<void> {
    const tenants = (await this.list()).filter((tenant) => tenant.status !== 'deleting');
    const { connections } = this.options;
    let next = 0;
    let done = 0;
    const lane = async () => {
      for (let tenant = tenants[next++]; tenant !== undefined; tenant = tenants[next++]) {
        await connections.servers.primary(tenant.server).create(tenant.databaseName);
        const applied = await connections.migrate(tenant);
        onProgress(++done, tenants.length, tenant, applied);
      }
    };
    // The first failure stops every lane from taking another tenant.
    const lanes = Array.from({ length: Math.max(1, concurrency) }, () =>
      lane().catch((error: unknown) => {
        next = tenants.length;
        throw error;
      }),
    );
    const results = await Promise.allSettled(lanes);
    const failed = results.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  /**
   * A tenant to administer and its database. A disabled tenant is still administered (that
   * is how it gets fixed); one being provisioned or deleted is treated as absent.
   */
  async open(ref: string): Promise<{ tenant: Tenant; db: Kysely<TenantSchema> }> {
    const tenant = await this.unfenced(await this.get(ref));
    if (inTransit(tenant)) throw notFound();
    return { tenant, db: this.database(tenant) };
  }

  /**
   * The tenant, whatever its status, once a pause of its writes (a move) is over: where its
   * database is now. Throws `tenant_moving` after FENCE_WAIT_MS.
   */
  async writable(ref: string): Promise<Tenant> {
    return this.unfenced(await this.get(ref));
  }

  private async unfenced(tenant: Tenant): Promise<Tenant> {
    // Redis away: the fence is a courtesy, the move's lock on the old database is the guard.
    const raised = await this.fence.raised(tenant.id).catch(() => false);
    if (!raised) return tenant;
    if (!(await fenceLowered(this.fence, tenant.id, FENCE_WAIT_MS).catch(() => true)))
      throw moving();
    // Its database may live elsewhere now.
    return this.get(tenant.id);
  }

  /**
   * Copies the tenant's database to `to` (a name in `database_servers`) with a short pause of
   * its writes, then serves it from there (see tenant-move.ts).
   */
  async move(
    ref: string,
    to: string,
    actor: Actor = SYSTEM_ACTOR,
    options: MoveOptions = {},
  ): Promise<MoveResult> {
    const tenant = await this.get(ref);
    const target = this.serverOf(to);
    const { control, connections } = this.options;
    const deps = { control, connections, changes: this.changes, fence: this.fence };
    return moveTenant(deps, tenant, target, actor, options);
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
