import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

/**
 * A pool that can be closed while others still hold the database handle over it: `close()`
 * ends its connections (those in use once they come back), and the next query opens a new
 * pool. So the cap on open tenant pools can close the least recently used one without
 * breaking a request that took the handle a moment before and queries it again.
 */
export class ReopeningPool implements PostgresPool {
  private pool: pg.Pool | null = null;

  constructor(
    private readonly make: () => pg.Pool,
    /** Told each time a pool is made, so the cap counts it as open again. */
    private readonly onOpen: () => void,
  ) {}

  async connect(): Promise<PostgresPoolClient> {
    if (this.pool === null) {
      this.pool = this.make();
      this.onOpen();
    }
    return this.pool.connect();
  }

  /** Whether connections may be open now. */
  get opened(): boolean {
    return this.pool !== null;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.end();
  }

  end(): Promise<void> {
    return this.close();
  }
}
