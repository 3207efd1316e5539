import { type DatabaseServerConfig, DEFAULT_DATABASE_SERVER } from '../config/database-servers.js';
import { type DatabaseServer, PostgresServer } from './database-server.js';

interface ServerEntry {
  primary: DatabaseServer;
  /** Opened on the replica's URL with the tenant database's name; never written to. */
  replica: DatabaseServer | null;
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
    onIdleError?: (error: Error) => void,
  ): DatabaseServers {
    if (control.kind === 'pglite' && configs.length > 0) {
      throw new Error('database_servers needs DATABASE_URL: the embedded databases have none');
    }
    const owned: DatabaseServer[] = [];
    const open = (url: string) => {
      const server = new PostgresServer(url, onIdleError);
      owned.push(server);
      return server;
    };
    const entries = new Map<string, ServerEntry>([
      [DEFAULT_DATABASE_SERVER, { primary: control, replica: null }],
    ]);
    for (const config of configs) {
      entries.set(config.name, {
        primary: config.url === null ? control : open(config.url),
        replica: config.replicaUrl === null ? null : open(config.replicaUrl),
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

  primary(name: string | null): DatabaseServer {
    return this.entry(name).primary;
  }

  replica(name: string | null): DatabaseServer | null {
    return this.entry(name).replica;
  }

  /** Closes the servers opened here. */
  async close(): Promise<void> {
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
