/**
 * What the capacity bench reads around its phases: a process's CPU time, the Redis server's
 * commands and CPU, PostgreSQL's per-database counters, the size of the usage table, and
 * `redis-benchmark` for what one Redis core does on this machine.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { sql } from './stores.js';

const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User plus system CPU seconds a process has used so far (/proc/<pid>/stat). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces: fields count from after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

export interface RedisReading {
  /** Commands the server has run, Lua-called ones included. */
  calls: number;
  byCommand: Record<string, number>;
  /** used_cpu_user + used_cpu_sys of the server (its main thread and helpers). */
  cpu: number;
}

export async function readRedis(redis: Redis): Promise<RedisReading> {
  const stats = await redis.info('commandstats');
  const byCommand: Record<string, number> = {};
  for (const match of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
    byCommand[match[1] ?? '?'] = Number(match[2]);
  const cpuInfo = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpuInfo)?.[1]);
  const calls = Object.values(byCommand).reduce((sum, n) => sum + n, 0);
  return { calls, byCommand, cpu: field('used_cpu_user') + field('used_cpu_sys') };
}

/** The harness's own commands (INFO, CLIENT LIST) are left out of the per-request figure. */
export function redisBetween(before: RedisReading, after: RedisReading) {
  const own = new Set(['info', 'client|list']);
  const byCommand: Record<string, number> = {};
  for (const [name, value] of Object.entries(after.byCommand)) {
    const n = value - (before.byCommand[name] ?? 0);
    if (n > 0 && !own.has(name)) byCommand[name] = n;
  }
  const commands = Object.values(byCommand).reduce((sum, n) => sum + n, 0);
  return { commands, byCommand, cpuSeconds: after.cpu - before.cpu };
}

export interface PgReading {
  commits: number;
  inserted: number;
  updated: number;
  deleted: number;
}

/** pg_stat_database of one database; PostgreSQL publishes these up to a second late. */
export async function readPg(database: string): Promise<PgReading> {
  const rows = await sql<{ c: string; i: string; u: string; d: string }>(
    null,
    'SELECT xact_commit AS c, tup_inserted AS i, tup_updated AS u, tup_deleted AS d FROM pg_stat_database WHERE datname = $1',
    [database],
  );
  const row = rows[0];
  return {
    commits: Number(row?.c ?? 0),
    inserted: Number(row?.i ?? 0),
    updated: Number(row?.u ?? 0),
    deleted: Number(row?.d ?? 0),
  };
}

export function pgBetween(before: PgReading, after: PgReading): PgReading {
  return {
    commits: after.commits - before.commits,
    inserted: after.inserted - before.inserted,
    updated: after.updated - before.updated,
    deleted: after.deleted - before.deleted,
  };
}

/**
 * The usage table's size on disk, indexes and TOAST included, and its rows. It is
 * partitioned by month: the parent holds nothing, its partitions hold the rows.
 */
export async function usageTable(database: string) {
  const [row] = await sql<{ rows: string; total: string; heap: string }>(
    database,
    `SELECT (SELECT count(*) FROM usage_records) AS rows,
            sum(pg_total_relation_size(relid)) AS total, sum(pg_relation_size(relid)) AS heap
       FROM pg_partition_tree('usage_records') WHERE isleaf`,
  );
  const rows = Number(row?.rows ?? 0);
  const total = Number(row?.total ?? 0);
  const heap = Number(row?.heap ?? 0);
  return {
    rows,
    total_bytes: total,
    heap_bytes: heap,
    bytes_per_record: rows === 0 ? null : Math.round(total / rows),
    heap_bytes_per_record: rows === 0 ? null : Math.round(heap / rows),
  };
}

/** A database's size on disk (pg_database_size). */
export async function databaseBytes(database: string): Promise<number> {
  const [row] = await sql<{ n: string }>(null, 'SELECT pg_database_size($1) AS n', [database]);
  return Number(row?.n ?? 0);
}

export async function serverSettings() {
  const rows = await sql<{ name: string; setting: string }>(
    null,
    "SELECT name, setting FROM pg_settings WHERE name IN ('max_connections', 'shared_buffers', 'server_version')",
  );
  return Object.fromEntries(rows.map((row) => [row.name, row.setting]));
}

/**
 * `redis-benchmark` against the bench's Redis database: requests per second of a few
 * commands, unpipelined with 50 clients and pipelined 16 deep. Null when it is not installed.
 */
export function redisBenchmark(url: string, requests: number): Record<string, number> | null {
  const parsed = new URL(url);
  const base = [
    '-h',
    parsed.hostname,
    '-p',
    parsed.port || '6379',
    '--dbnum',
    parsed.pathname.slice(1) || '0',
    '-n',
    String(requests),
    '-c',
    '50',
    '-t',
    'set,get,incr,lpush',
    '--csv',
  ];
  const results: Record<string, number> = {};
  try {
    for (const pipeline of [1, 16]) {
      const csv = execFileSync('redis-benchmark', [...base, '-P', String(pipeline)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      for (const line of csv.split('\n').slice(1)) {
        const [test, rps] = line.split(',').map((cell) => cell.replaceAll('"', ''));
        if (test && rps) results[`${test.toLowerCase()}_p${pipeline}`] = Math.round(Number(rps));
      }
    }
    // One stream key, as the usage stream is: entries of about a usage event's size.
    const event = 'x'.repeat(400);
    for (const pipeline of [1, 16]) {
      const csv = execFileSync(
        'redis-benchmark',
        [
          ...base.filter((arg) => arg !== '-t' && arg !== 'set,get,incr,lpush'),
          '-P',
          String(pipeline),
        ].concat(['XADD', 'llmb:bench:capacity:stream', 'MAXLEN', '~', '100000', '*', 'e', event]),
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      );
      const rps = csv.split('\n')[1]?.split(',')[1]?.replaceAll('"', '');
      if (rps) results[`xadd_400b_p${pipeline}`] = Math.round(Number(rps));
    }
  } catch {
    return null;
  }
  return results;
}
