import type { Kysely } from 'kysely';
import type { DatabaseServer } from './database-server.js';
import type { TenantSchema } from './tenant-schema.js';

export interface TenantConnectionsOptions {
  /** Most tenant databases open at once; the least recently used closes first beyond it. */
  maxOpen: number;
  /** Connections per open tenant pool: maxOpen x this bounds the total. */
  maxConnectionsPerTenant: number;
}

/**
 * A pool per active tenant database, capped so thousands of tenants cannot exhaust the
 * server's connections: the least recently used pool is closed to make room.
 */
export class TenantConnections {
  private readonly open = new Map<string, Kysely<TenantSchema>>();
  private readonly closing = new Set<Promise<void>>();

  constructor(
    private readonly server: DatabaseServer,
    private readonly options: TenantConnectionsOptions,
  ) {}

  get(databaseName: string): Kysely<TenantSchema> {
    let db = this.open.get(databaseName);
    if (db !== undefined) {
      // Re-inserting moves the entry to the end: Map order is our recency order.
      this.open.delete(databaseName);
      this.open.set(databaseName, db);
      return db;
    }
    db = this.server.open<TenantSchema>(databaseName, {
      maxConnections: this.options.maxConnectionsPerTenant,
    });
    this.open.set(databaseName, db);
    while (this.open.size > this.options.maxOpen) {
      const [oldest] = this.open.keys();
      if (oldest === undefined) break;
      this.evict(oldest);
    }
    return db;
  }

  get size(): number {
    return this.open.size;
  }

  /** Closes a database's pool, e.g. before the database is dropped. */
  async release(databaseName: string): Promise<void> {
    this.evict(databaseName);
    await Promise.all(this.closing);
  }

  async close(): Promise<void> {
    for (const name of [...this.open.keys()]) this.evict(name);
    await Promise.all(this.closing);
  }

  private evict(databaseName: string): void {
    const db = this.open.get(databaseName);
    if (db === undefined) return;
    this.open.delete(databaseName);
    // In-flight queries finish first: destroy waits for checked-out connections.
    const closing = db.destroy().finally(() => this.closing.delete(closing));
    this.closing.add(closing);
  }
}
