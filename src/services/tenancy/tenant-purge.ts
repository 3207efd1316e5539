import { basename } from 'node:path';
import type { Kysely } from 'kysely';
import type { Actor } from '../../domain/audit-entry.js';
import type { EntityKind } from '../../domain/entity.js';
import { TENANT, type Tenant, tenantJson } from '../../domain/tenant.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import { TenantRepository } from '../../storage/repositories/tenants.js';
import type { TenantConnections } from '../../storage/tenant-connections.js';
import { exportTenantDatabase } from '../../storage/tenant-export.js';
import type { ChangeRecorder } from '../audit/changes.js';

/** What a purge did: tenants exported and dropped, and those left `deleting` for the next one. */
export interface PurgeResult {
  purged: string[];
  failed: { id: string; error: string }[];
}

export interface PurgeOptions {
  /** Stops before the next tenant, and aborts a running export (that tenant is kept). */
  signal?: AbortSignal;
}

/** What a purge works with: the tenant service's own. */
export interface Purger {
  control: Kysely<ControlSchema>;
  connections: TenantConnections;
  exportDirectory: string;
  changes: ChangeRecorder;
  /** Empties the tenant's response caches; never throws (see TenantServiceOptions). */
  forgetCaches?: (tenantId: string) => Promise<void>;
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

/**
 * Exports, then drops, the databases of tenants deleted longer ago than the grace period.
 * A tenant whose export fails is kept, still `deleting`, for the next purge; the others go
 * on. Several purgers may run at once (instances, the CLI): each tenant is claimed first, so
 * it is exported and dropped by one of them only.
 */
export async function purgeDue(
  purger: Purger,
  now: Date,
  actor: Actor,
  options: PurgeOptions,
): Promise<PurgeResult> {
  const registry = new TenantRepository(purger.control);
  const result: PurgeResult = { purged: [], failed: [] };
  for (const tenant of await registry.due(now)) {
    if (options.signal?.aborted) break;
    // Moved past `now` for as long as the purge may take: someone else's, if refused.
    const claim = new Date(now.getTime() + PURGE_CLAIM_MS);
    if (!(await registry.claim(tenant.id, now, claim))) continue;
    try {
      await purgeClaimed(purger, tenant, claim, actor, options.signal);
      result.purged.push(tenant.id);
    } catch (error) {
      // Given back its own deadline for the next purge; should even this fail, the claim
      // expires and a later purge retries the tenant.
      await registry.release(tenant.id, claim, tenant.deleteAfter).catch(() => {});
      result.failed.push({
        id: tenant.id,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return result;
}

async function purgeClaimed(
  purger: Purger,
  tenant: Tenant,
  claim: Date,
  actor: Actor,
  signal: AbortSignal | undefined,
): Promise<void> {
  const { control, connections, exportDirectory, changes } = purger;
  const server = connections.servers.primary(tenant.server);
  // A tenant whose provisioning failed before its database existed has nothing to export.
  let exportFile: string | null = null;
  if (await server.exists(tenant.databaseName)) {
    // The primary: a replica that lags would leave the newest rows out of the last copy.
    const db = connections.get(tenant) as Kysely<unknown>;
    exportFile = basename(await exportTenantDatabase(db, tenant, exportDirectory, { signal }));
  }
  // Still ours? Only if the claim outlived the export; otherwise the new owner drops it.
  if (!(await new TenantRepository(control).holdsClaim(tenant.id, claim)))
    throw new Error('claim expired during the export; not dropped');
  await connections.release(tenant);
  await server.drop(tenant.databaseName);
  // Again: an answer stored while the deletion was under way, or a store away at the time.
  await purger.forgetCaches?.(tenant.id);
  await changes.platform(control, actor, {
    action: 'tenant.purge',
    kind: PURGED,
    write: async (trx) => {
      await new TenantRepository(trx).remove(tenant.id);
      return { before: tenant, after: { ...tenant, exportFile } };
    },
  });
}
