import type { Kysely } from 'kysely';
import { DEFAULT_DATABASE_SERVER } from '../config/database-servers.js';
import type { DatabaseServer } from './database-server.js';
import type { DatabaseServers } from './database-servers.js';
import { migrateToLatest } from './migrations/index.js';
import type { TenantSchema } from './tenant-schema.js';

export interface TenantConnectionsOptions {
  /** Most pools open at once, on every server together; the least recently used closes first. */
  maxOpen: number;
  /** Connections per open pool: maxOpen x this bounds the total. */
  maxConnectionsPerTenant: number;
}

/** Where a tenant database lives: a tenant has both fields. */
export interface TenantDatabase {
  /** The server's name in `database_servers`; null: the control plane's server. */
  readonly server: string | null;
  readonly databaseName: string;
}

type Role = 'primary' | 'replica';

/**
 * A pool per active tenant database (and per replica of one being read), capped so thousands
 * of tenants cannot exhaust the servers' connections: the least recently used pool is closed
 * to make room.
 */
export class TenantConnections {
  private readonly open = new Map<string, Kysely<TenantSchema>>();
  private readonly closing = new Set<Promise<void>>();

  constructor(
    readonly servers: DatabaseServers,
    private readonly options: TenantConnectionsOptions,
  ) {}

  /** The database on its own server: what reads its own writes goes here. */
  get(target: TenantDatabase): Kysely<TenantSchema> {
    return this.pool('primary', target, () => this.servers.primary(target.server));
  }

  /**
   * The database on its server's read replica, or the primary where there is none, or while
   * the replica lags beyond its bound (or does not answer).
   */
  read(target: TenantDatabase): Kysely<TenantSchema> {
    const replica = this.servers.readReplica(target.server);
    return replica === null ? this.get(target) : this.pool('replica', target, () => replica);
  }

  /**
   * Brings the database to the latest schema, past PgBouncer where its server has a direct
   * URL (the migrations' lock is a session's, which transaction pooling does not keep), else
   * over its pool. Returns the migrations applied now.
   */
  async migrate(target: TenantDatabase): Promise<string[]> {
    const direct = this.servers.primary(target.server).openDirect<unknown>(target.databaseName);
    if (direct === null) return migrateToLatest(this.get(target) as Kysely<unknown>, 'tenant');
    try {
      return await migrateToLatest(direct, 'tenant');
    } finally {
      await direct.destroy();
    }
  }

  get size(): number {
    return this.open.size;
  }

  /** Closes a database's pools, e.g. before the database is dropped. */
  async release(target: TenantDatabase): Promise<void> {
    this.evict(key('primary', target));
    this.evict(key('replica', target));
    await Promise.all(this.closing);
  }

  async close(): Promise<void> {
    for (const name of [...this.open.keys()]) this.evict(name);
    await Promise.all(this.closing);
  }

  private pool(
    role: Role,
    target: TenantDatabase,
    server: () => DatabaseServer,
  ): Kysely<TenantSchema> {
    const name = key(role, target);
    let db = this.open.get(name);
    if (db !== undefined) {
      // Re-inserting moves the entry to the end: Map order is our recency order.
      this.open.delete(name);
      this.open.set(name, db);
      return db;
    }
    db = server().open<TenantSchema>(target.databaseName, {
      maxConnections: this.options.maxConnectionsPerTenant,
    });
    this.open.set(name, db);
    while (this.open.size > this.options.maxOpen) {
      const [oldest] = this.open.keys();
      if (oldest === undefined) break;
      this.evict(oldest);
    }
    return db;
  }

  private evict(name: string): void {
    const db = this.open.get(name);
    if (db === undefined) return;
    this.open.delete(name);
    // In-flight queries finish first: destroy waits for checked-out connections.
    const closing = db.destroy().finally(() => this.closing.delete(closing));
    this.closing.add(closing);
  }
}

// Server names hold no '/' and database names no ':', so keys never collide.
const key = (role: Role, target: TenantDatabase) =>
  `${role}:${target.server ?? DEFAULT_DATABASE_SERVER}/${target.databaseName}`;
