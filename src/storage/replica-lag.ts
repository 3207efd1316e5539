import pg from 'pg';

/** What the last look at a replica found. */
export interface ReplicaLagView {
  /** The server's name in `database_servers`. */
  server: string;
  /** Seconds the replica is behind; null: unknown (not looked at yet, or it did not answer). */
  lagSeconds: number | null;
  /** Whether reads meant for the replica go there now (else to the primary). */
  inUse: boolean;
}

/**
 * How far the replica is behind, in one round trip. A replica that has replayed all it
 * received is current, however long ago the last commit was (an idle primary sends none);
 * otherwise the age of the last replayed commit is how stale its data is. Not in recovery:
 * the server takes writes itself, so there is nothing to lag behind.
 */
const LAG_QUERY = `select case
    when not pg_is_in_recovery() then 0
    when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
    else greatest(0, extract(epoch from now() - pg_last_xact_replay_timestamp()))
  end::float8 as lag`;

/** How often each replica is looked at: one small query per replica server, not per read. */
export const REPLICA_LAG_CHECK_INTERVAL_MS = 1000;

export interface ReplicaLagMonitorOptions {
  server: string;
  /** Any database on the replica (its `replica_url_env`). */
  url: string;
  maxLagSeconds: number;
  intervalMs?: number;
  onError?: (error: Error) => void;
}

/**
 * Watches one replica's lag in the background, so choosing where a read goes costs nothing.
 * Until the first answer, and whenever the replica does not answer, reads go to the primary:
 * a replica of unknown lag is not trusted.
 */
export class ReplicaLagMonitor {
  private readonly pool: pg.Pool;
  private lag: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private failing = false;
  private readonly first: Promise<void>;
  private current: Promise<void>;

  constructor(private readonly options: ReplicaLagMonitorOptions) {
    // One connection, given up quickly: a replica that hangs must not hold the check.
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: 1,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 0,
    });
    this.pool.on('error', (error) => options.onError?.(error));
    this.pool.on('connect', (client) => client.on('error', () => {}));
    this.first = this.check();
    this.current = this.first;
  }

  /** Resolves once the replica has been looked at once (answered or not). */
  ready(): Promise<void> {
    return this.first;
  }

  view(): ReplicaLagView {
    return { server: this.options.server, lagSeconds: this.lag, inUse: this.inUse() };
  }

  /** Whether the replica is close enough behind to read from. */
  inUse(): boolean {
    return this.lag !== null && this.lag <= this.options.maxLagSeconds;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.current;
    await this.pool.end();
  }

  private async check(): Promise<void> {
    try {
      const { rows } = await this.pool.query<{ lag: number | null }>(LAG_QUERY);
      // Null: a standby that has replayed no commit since it started; its age is unknown.
      this.lag = rows[0]?.lag ?? null;
      this.failing = false;
    } catch (error) {
      // Told once when the replica stops answering, not at every check until it is back.
      if (!this.failing) this.options.onError?.(error as Error);
      this.failing = true;
      this.lag = null;
    }
    if (this.closed) return;
    // Scheduled after the answer, so a slow replica never has two checks in flight.
    this.timer = setTimeout(() => {
      this.timer = null;
      this.current = this.check();
    }, this.options.intervalMs ?? REPLICA_LAG_CHECK_INTERVAL_MS);
    this.timer.unref();
  }
}
