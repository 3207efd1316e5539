import type { Kysely } from 'kysely';
import { DEFAULT_DATABASE_SERVER } from '../config/database-servers.js';
import type { ClosableHandle, DatabaseServer } from './database-server.js';
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
 * to make room. On PostgreSQL a database's handle outlives its pool: a request that took the
 * handle before its pool was closed still queries it, and that reopens the pool (closing
 * another), so the cap never breaks work in flight.
 */
export class TenantConnections {
  /** Every handle made, by key; a closed PostgreSQL one is reused when asked for again. */
  private readonly handles = new Map<string, ClosableHandle<TenantSchema>>();
  /** The handles that may hold connections, least recently used first (Map order). */
  private readonly open = new Map<string, ClosableHandle<TenantSchema>>();
  private readonly closing = new Set<Promise<void>>();
  private evicted = 0;

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

  /** Pools open now (at most `maxOpen`). */
  get size(): number {
    return this.open.size;
  }

  /** Pools closed to make room under the cap since the start. */
  get evictions(): number {
    return this.evicted;
  }

  /** Closes a database's pools and forgets its handles, e.g. before the database is dropped. */
  async release(target: TenantDatabase): Promise<void> {
    for (const name of [key('primary', target), key('replica', target)]) {
      this.evict(name);
      const handle = this.handles.get(name);
      this.handles.delete(name);
      if (handle !== undefined) this.track(handle.close());
    }
    await Promise.all(this.closing);
  }

  async close(): Promise<void> {
    for (const handle of this.handles.values()) this.track(handle.close());
    this.handles.clear();
    this.open.clear();
    await Promise.all(this.closing);
  }

  private pool(
    role: Role,
    target: TenantDatabase,
    server: () => DatabaseServer,
  ): Kysely<TenantSchema> {
    const name = key(role, target);
    let handle = this.handles.get(name);
    if (handle === undefined) {
      handle = server().openClosable<TenantSchema>(target.databaseName, {
        maxConnections: this.options.maxConnectionsPerTenant,
        // A handle used again after its pool was closed counts as open again.
        onOpen: () => this.touch(name),
      });
      this.handles.set(name, handle);
    }
    this.touch(name);
    return handle.db;
  }

  /** Marks the handle most recently used, closing the least recently used beyond the cap. */
  private touch(name: string): void {
    const handle = this.handles.get(name);
    if (handle === undefined) return;
    // Re-inserting moves the entry to the end: Map order is our recency order.
    this.open.delete(name);
    this.open.set(name, handle);
    while (this.open.size > this.options.maxOpen) {
      const [oldest] = this.open.keys();
      if (oldest === undefined || oldest === name) break;
      this.evict(oldest);
      this.evicted++;
    }
  }

  private evict(name: string): void {
    const handle = this.open.get(name);
    if (handle === undefined) return;
    this.open.delete(name);
    if (!handle.reusable) this.handles.delete(name);
    // In-flight queries finish first: closing waits for checked-out connections.
    this.track(handle.close());
  }

  private track(done: Promise<void>): void {
    const closing: Promise<void> = done.catch(() => {}).finally(() => this.closing.delete(closing));
    this.closing.add(closing);
  }
}

// Server names hold no '/' and database names no ':', so keys never collide.
const key = (role: Role, target: TenantDatabase) =>
  `${role}:${target.server ?? DEFAULT_DATABASE_SERVER}/${target.databaseName}`;
