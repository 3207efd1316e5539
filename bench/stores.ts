/**
 * PostgreSQL and Redis for the bench: where they are, a check that they answer, and the
 * clean-up. A run's databases are named `llmb_bench_<pid>` (control plane) and
 * `llmb_bench_<pid>_tnt_...` (its tenant), so what a killed run left is recognised by its
 * dead pid and dropped by the next run. Redis: database 15 unless BENCH_REDIS_URL says
 * otherwise, the usage stream `llmb:bench:<pid>:usage`.
 */
import { Redis } from 'ioredis';
import pg, { type QueryResultRow } from 'pg';

export interface Stores {
  /** Any database on the server; the run's databases are created next to it. */
  postgresUrl: string;
  redisUrl: string;
}

export const stores: Stores = {
  postgresUrl: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  // Its own Redis database, so the run's streams never meet a test run's on database 0.
  redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
};

const PREFIX = 'llmb_bench_';
export const CONTROL_DB = `${PREFIX}${process.pid}`;
const usageStream = (pid: number) => `llmb:bench:${pid}:usage`;
export const USAGE_STREAM = usageStream(process.pid);
/** Tenants this run created, whose Redis keys go at the end. */
const tenantIds: string[] = [];

export function rememberTenant(id: string): void {
  tenantIds.push(id);
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export async function sql<T extends QueryResultRow>(
  database: string | null,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const url = database === null ? stores.postgresUrl : withDatabase(stores.postgresUrl, database);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Fails with a message that says what to start when PostgreSQL or Redis is not there. */
export async function checkStores(): Promise<void> {
  try {
    await sql(null, 'SELECT 1');
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${stores.postgresUrl} (${String(error)}). Start it, or set BENCH_DATABASE_URL; the role needs CREATEDB.`,
    );
  }
  const redis = new Redis(stores.redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 3000,
    retryStrategy: () => null,
  });
  let cause: unknown = null;
  redis.on('error', (error) => {
    cause ??= error;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(
      `Redis is not reachable at ${stores.redisUrl} (${String(cause ?? error)}). Start it, or set BENCH_REDIS_URL.`,
    );
  } finally {
    redis.disconnect();
  }
}

/** Drops at once: each DROP DATABASE waits for a checkpoint, which drops in flight share. */
const DROPS_AT_ONCE = 8;

/** Drops the bench databases of the runs `match` picks; returns their names. */
async function dropDatabases(match: (pid: number) => boolean): Promise<string[]> {
  const rows = await sql<{ datname: string }>(null, 'SELECT datname FROM pg_database');
  const doomed = rows
    .map(({ datname }) => datname)
    .filter((datname) => {
      const pid = new RegExp(`^${PREFIX}(\\d+)(?:_|$)`).exec(datname)?.[1];
      return pid !== undefined && match(Number(pid));
    });
  let next = 0;
  const lane = async () => {
    for (let name = doomed[next++]; name !== undefined; name = doomed[next++])
      await sql(null, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  };
  await Promise.all(Array.from({ length: DROPS_AT_ONCE }, lane));
  return doomed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Deletes Redis keys: the usage streams of the given runs and every key of the tenants. */
async function dropKeys(pids: number[], tenants: string[]): Promise<void> {
  const patterns = [
    ...pids.map((pid) => `${usageStream(pid)}*`),
    ...tenants.map((tenant) => `*${tenant}*`),
  ];
  await withRedis(async (redis) => {
    for (const match of patterns) {
      for await (const keys of redis.scanStream({ match, count: 1000 })) {
        if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
      }
    }
  });
}

/** What runs killed before their clean-up left: their databases and Redis keys. */
export async function dropLeftovers(): Promise<string[]> {
  const dropped = await dropDatabases((pid) => pid !== process.pid && !alive(pid));
  const pids = new Set<number>();
  const tenants: string[] = [];
  for (const name of dropped) {
    const [, pid, tenant] = new RegExp(`^${PREFIX}(\\d+)(?:_(tnt_\\w+))?$`).exec(name) ?? [];
    if (pid !== undefined) pids.add(Number(pid));
    if (tenant !== undefined) tenants.push(tenant);
  }
  await dropKeys([...pids], tenants);
  return dropped;
}

/** This run's control and tenant databases, and its keys in Redis. */
export async function dropRunData(): Promise<void> {
  await dropDatabases((pid) => pid === process.pid);
  await dropKeys([process.pid], tenantIds);
}

/** A Redis connection that lives until its owner disconnects it. */
export async function connectRedis(): Promise<Redis> {
  const redis = new Redis(stores.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => {});
  await redis.connect();
  return redis;
}

/** A short-lived Redis connection for one question. */
export async function withRedis<T>(run: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(stores.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    return await run(redis);
  } finally {
    redis.disconnect();
  }
}
