import {
  type DatabaseServerConfig,
  DEFAULT_DATABASE_SERVER,
  DEFAULT_MAX_REPLICA_LAG_SECONDS,
} from '../config/database-servers.js';
import { type DatabaseServer, PostgresServer } from './database-server.js';
import { ReplicaLagMonitor, type ReplicaLagView } from './replica-lag.js';

interface ServerEntry {
  primary: DatabaseServer;
  /** Opened on the replica's URL with the tenant database's name; never written to. */
  replica: DatabaseServer | null;
  /** The replica's lag, looked at in the background; null: no replica. */
  lag: ReplicaLagMonitor | null;
  /** How many tenants automatic placement puts here; null: no limit. */
  maxTenants: number | null;
}

export interface DatabaseServersOptions {
  onIdleError?: (error: Error) => void;
  /** How often each replica's lag is looked at (default: every second). */
  lagCheckIntervalMs?: number;
}

/**
 * The servers tenant databases live on, by name. A tenant's server null is `default`, the
 * control plane's own server; the others, and every replica, come from `database_servers`.
 */
export class DatabaseServers {
  private constructor(
    private readonly entries: ReadonlyMap<string, ServerEntry>,
    /** The servers opened here; the control plane's belongs to whoever opened it. */
    private readonly owned: readonly DatabaseServer[],
  ) {}

  /** The control plane's server as `default`, and the configured servers next to it. */
  static of(
    control: DatabaseServer,
    configs: readonly DatabaseServerConfig[] = [],
    options: DatabaseServersOptions = {},
  ): DatabaseServers {
    const { onIdleError } = options;
    if (control.kind === 'pglite' && configs.length > 0) {
      throw new Error('database_servers needs DATABASE_URL: the embedded databases have none');
    }
    const owned: DatabaseServer[] = [];
    const open = (url: string, tenantPool: 'tenant' | 'replica', directUrl?: string | null) => {
      const server = new PostgresServer(url, onIdleError, tenantPool, directUrl ?? null);
      owned.push(server);
      return server;
    };
    const entries = new Map<string, ServerEntry>([
      [DEFAULT_DATABASE_SERVER, { primary: control, replica: null, lag: null, maxTenants: null }],
    ]);
    for (const config of configs) {
      const { replicaUrl } = config;
      entries.set(config.name, {
        maxTenants: config.maxTenants ?? null,
        primary: config.url === null ? control : open(config.url, 'tenant', config.directUrl),
        replica: replicaUrl === null ? null : open(replicaUrl, 'replica'),
        lag:
          replicaUrl === null
            ? null
            : new ReplicaLagMonitor({
                server: config.name,
                url: replicaUrl,
                maxLagSeconds: config.maxReplicaLagSeconds ?? DEFAULT_MAX_REPLICA_LAG_SECONDS,
                intervalMs: options.lagCheckIntervalMs,
                onError: onIdleError,
              }),
      });
    }
    return new DatabaseServers(entries, owned);
  }

  /** The control plane's server, whose database name is the stem of tenant database names. */
  get control(): DatabaseServer {
    return this.entry(null).primary;
  }

  /** Every server once, the control plane's first, replicas included. */
  all(): DatabaseServer[] {
    return [this.control, ...this.owned];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** How many tenants automatic placement puts on the server; null: no limit. */
  maxTenants(name: string | null): number | null {
    return this.entry(name).maxTenants;
  }

  primary(name: string | null): DatabaseServer {
    return this.entry(name).primary;
  }

  replica(name: string | null): DatabaseServer | null {
    return this.entry(name).replica;
  }

  /**
   * Where a read that tolerates lag goes: the replica while its lag is within the server's
   * bound, else (no replica, too far behind, not answering) null, meaning the primary.
   */
  readReplica(name: string | null): DatabaseServer | null {
    const { replica, lag } = this.entry(name);
    return replica !== null && lag?.inUse() === true ? replica : null;
  }

  /** Every replica's lag as last looked at, for the metrics. */
  replicaLags(): ReplicaLagView[] {
    const views: ReplicaLagView[] = [];
    for (const { lag } of this.entries.values()) if (lag !== null) views.push(lag.view());
    return views;
  }

  /** Resolves once every replica has been looked at once, so the first reads can use them. */
  async ready(): Promise<void> {
    await Promise.all([...this.entries.values()].map((entry) => entry.lag?.ready()));
  }

  /** Closes the servers opened here. */
  async close(): Promise<void> {
    await Promise.all([...this.entries.values()].map((entry) => entry.lag?.close()));
    await Promise.all(this.owned.map((server) => server.close()));
  }

  private entry(name: string | null): ServerEntry {
    const entry = this.entries.get(name ?? DEFAULT_DATABASE_SERVER);
    // A server removed from the config while tenants still live on it.
    if (entry === undefined) {
      throw new Error(`database server '${name}' is not in the config file's database_servers`);
    }
    return entry;
  }
}
