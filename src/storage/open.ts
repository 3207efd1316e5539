import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { DatabaseServerConfig } from '../config/database-servers.js';
import type { EnvConfig } from '../config/env.js';
import type { ControlSchema } from './control-schema.js';
import { type DatabaseServer, PGliteServer, PostgresServer } from './database-server.js';
import { DatabaseServers } from './database-servers.js';
import { migrateToLatest } from './migrations/index.js';
import { TenantConnections } from './tenant-connections.js';

export interface Storage {
  /** The control plane's server, which is also the tenants' `default` server. */
  server: DatabaseServer;
  /** Every server tenant databases live on, and their replicas. */
  servers: DatabaseServers;
  control: Kysely<ControlSchema>;
  tenants: TenantConnections;
  close(): Promise<void>;
}

export interface OpenStorageOptions {
  onIdleError?: (error: Error) => void;
  /** The config file's `database_servers` (PostgreSQL only). */
  databaseServers?: readonly DatabaseServerConfig[];
}

/**
 * The control plane (DATABASE_URL, or PGlite under DATA_DIR when unset), migrated to the
 * latest schema, and the pools of the tenant databases on their servers.
 */
export async function openStorage(
  env: EnvConfig,
  options: OpenStorageOptions = {},
): Promise<Storage> {
  const server: DatabaseServer =
    env.databaseUrl === null
      ? new PGliteServer(join(env.dataDir, 'pglite'))
      : new PostgresServer(env.databaseUrl, options.onIdleError, 'tenant', env.databaseDirectUrl);
  let servers: DatabaseServers | undefined;
  try {
    servers = DatabaseServers.of(server, options.databaseServers, {
      onIdleError: options.onIdleError,
    });
    await server.prepare();
    // A replica is read from only once its lag is known: the first look, before serving.
    await servers.ready();
  } catch (error) {
    await servers?.close();
    await server.close();
    throw error;
  }
  const control = server.open<ControlSchema>(null, { maxConnections: 10 });
  // Past PgBouncer where DATABASE_DIRECT_URL says how: the migrations' lock is a session's.
  const direct = server.openDirect<unknown>(null);
  try {
    await migrateToLatest(direct ?? (control as Kysely<unknown>), 'control');
  } catch (error) {
    await control.destroy().catch(() => {});
    await servers.close();
    await server.close();
    throw error;
  } finally {
    await direct?.destroy();
  }
  // PGlite holds a whole database in memory per open directory, so fewer stay open.
  const tenants = new TenantConnections(servers, {
    maxOpen: env.tenantPoolsMax ?? (server.kind === 'pglite' ? 8 : 200),
    maxConnectionsPerTenant: env.tenantPoolConnections,
  });
  return {
    server,
    servers,
    control,
    tenants,
    close: async () => {
      await tenants.close();
      await control.destroy();
      await servers.close();
      await server.close();
    },
  };
}
