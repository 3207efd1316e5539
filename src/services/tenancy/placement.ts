import { type Kysely, sql, type Transaction } from 'kysely';
import { DEFAULT_DATABASE_SERVER } from '../../config/database-servers.js';
import type { PlacementPolicy } from '../../config/placement.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import type { DatabaseServers } from '../../storage/database-servers.js';
import { tenantsPerServer } from '../../storage/repositories/server-occupancy.js';

/** A server tenants may be placed on, and how many it takes (null: no limit). */
export interface ServerCapacity {
  name: string;
  maxTenants: number | null;
}

/** A server's room: how many more tenants it takes (Infinity: no limit). */
const roomOf = (server: ServerCapacity, tenants: number) =>
  server.maxTenants === null ? Number.POSITIVE_INFINITY : server.maxTenants - tenants;

/**
 * The server with the most room, of those with any: ties go to the one holding fewer
 * tenants, then to the first by name, so the choice is the same on every instance. Null
 * when every server is full.
 */
export function mostRoom(
  servers: readonly ServerCapacity[],
  tenants: ReadonlyMap<string, number>,
): string | null {
  const candidates = servers
    .map((server) => {
      const count = tenants.get(server.name) ?? 0;
      return { name: server.name, count, room: roomOf(server, count) };
    })
    .filter((candidate) => candidate.room > 0)
    .sort(
      (a, b) =>
        b.room - a.room || a.count - b.count || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    );
  return candidates[0]?.name ?? null;
}

export interface TenantPlacementOptions {
  policy: PlacementPolicy;
  /** Every server tenants live on, `default` included. */
  servers: readonly ServerCapacity[];
  control: Kysely<ControlSchema>;
}

/**
 * Chooses the server of a tenant created without one (TENANT_PLACEMENT). Choices are made
 * one at a time (a lock in the control plane's database) and each holds until its tenant is
 * registered, so tenants created at the same moment never take a server past its
 * `max_tenants`.
 */
export class TenantPlacement {
  constructor(private readonly options: TenantPlacementOptions) {}

  /**
   * Chooses a server and registers the tenant there with `register`, in one transaction
   * that the next choice waits for: it counts this tenant.
   */
  async place<T>(
    register: (trx: Transaction<ControlSchema>, server: string | null) => Promise<T>,
  ): Promise<T> {
    return this.options.control.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext('tenants.placement'))`.execute(trx);
      return register(trx, await this.choose(trx));
    });
  }

  /** The server's name as the registry keeps it (null: the control plane's server). */
  private async choose(control: Kysely<ControlSchema>): Promise<string | null> {
    const { policy, servers } = this.options;
    const tenants = await tenantsPerServer(control);
    const candidates =
      policy === 'default'
        ? servers.filter((server) => server.name === DEFAULT_DATABASE_SERVER)
        : servers;
    const chosen = mostRoom(candidates, tenants);
    if (chosen === null) {
      throw new GatewayError('database_servers_full', {
        message:
          policy === 'default'
            ? "The control plane's database server has reached its max_tenants: name another server, or raise its max_tenants in the config file."
            : 'Every database server has reached its max_tenants: add a server or raise a max_tenants in the config file.',
      });
    }
    return chosen === DEFAULT_DATABASE_SERVER ? null : chosen;
  }
}

/** The placement over every server tenants live on, each with its configured `max_tenants`. */
export function buildTenantPlacement(
  policy: PlacementPolicy,
  servers: DatabaseServers,
  control: Kysely<ControlSchema>,
): TenantPlacement {
  const capacities = servers
    .names()
    .map((name) => ({ name, maxTenants: servers.maxTenants(name) }));
  return new TenantPlacement({ policy, servers: capacities, control });
}
