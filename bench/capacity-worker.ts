/**
 * The capacity bench's worker phase and its own Redis server (see bench/capacity.ts): one
 * `llm-backend worker` process writing the backlog the gateway phase queued.
 */
import { join } from 'node:path';
import { cpuSeconds, pgBetween, readPg, readRedis, redisBetween } from './capacity-probes.js';
import { startProcess, stop } from './children.js';
import type { LlmBackend } from './llm-backend.js';
import { CONTROL_DB, connectRedis, sql, stores, withRedis } from './stores.js';
import { freePort } from './systems.js';

export const RESULTS = 'bench/results';
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const round = (value: number, digits = 2) => Number(value.toFixed(digits));

export async function countRecords(database: string): Promise<number> {
  const [row] = await sql<{ n: string }>(database, 'SELECT count(*) AS n FROM usage_records');
  return Number(row?.n ?? 0);
}

/** Phase 2: one worker process writes the backlog; records per second and per CPU-second. */
export async function workerPhase(gateway: LlmBackend, expected: number) {
  const tenantDb = gateway.tenantDatabase;
  const backlog = await withRedis((redis) => redis.xlen(String(gateway.env.USAGE_STREAM)));
  const redis = await connectRedis();
  const before = {
    records: await countRecords(tenantDb),
    redis: await readRedis(redis),
    control: await readPg(CONTROL_DB),
    tenant: await readPg(tenantDb),
  };
  const logFile = join(RESULTS, 'capacity-worker.log');
  const child = startProcess(
    process.execPath,
    ['dist/cli.js', 'worker'],
    { ...gateway.env, USAGE_WORKERS: '1', PORT: String(await freePort()) },
    logFile,
  );
  const pid = child.pid ?? 0;
  // Start-up (compose, migrations check) is not writing: time from the first record on.
  let records = before.records;
  while (records === before.records) {
    if (child.exitCode !== null) throw new Error(`the worker exited; see ${logFile}`);
    await sleep(20);
    records = await countRecords(tenantDb);
  }
  const started = Date.now();
  const cpuStart = cpuSeconds(pid);
  let moved = Date.now();
  while (records < expected && Date.now() - moved < 10_000) {
    await sleep(50);
    const now = await countRecords(tenantDb);
    if (now !== records) moved = Date.now();
    records = now;
  }
  const elapsed = (Date.now() - started) / 1000;
  const cpu = cpuSeconds(pid) - cpuStart;
  await stop(child, 10_000);
  await sleep(1500);
  const written = records - before.records;
  const redisIo = redisBetween(before.redis, await readRedis(redis));
  redis.disconnect();
  const control = pgBetween(before.control, await readPg(CONTROL_DB));
  const tenant = pgBetween(before.tenant, await readPg(tenantDb));
  const per = (value: number) => round(value / written, 4);
  return {
    backlog_entries: backlog,
    records_written: written,
    records_total: records,
    expected_records: expected,
    seconds: round(elapsed),
    worker_cpu_seconds: round(cpu),
    records_per_second: round(written / elapsed, 0),
    records_per_cpu_second: round(written / cpu, 0),
    redis_commands_per_record: per(redisIo.commands),
    redis_commands_by_command: redisIo.byCommand,
    postgres_control: { ...control, commits_per_record: per(control.commits) },
    postgres_tenant: {
      ...tenant,
      commits_per_record: per(tenant.commits),
      rows_inserted_per_record: per(tenant.inserted),
    },
  };
}

/**
 * A Redis server of the run's own (no persistence), unless BENCH_REDIS_URL names one: Redis
 * counts commands and CPU for the whole server, so other users of a shared one would show
 * in the per-request figures.
 */
export async function ownRedis(): Promise<string> {
  if (process.env.BENCH_REDIS_URL !== undefined) return 'BENCH_REDIS_URL';
  const port = await freePort();
  const child = startProcess(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { PATH: process.env.PATH },
    join(RESULTS, 'capacity-redis.log'),
  );
  stores.redisUrl = `redis://127.0.0.1:${port}/15`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error('redis-server did not start');
    try {
      await withRedis((redis) => redis.ping());
      return 'a redis-server of its own';
    } catch {
      await sleep(100);
    }
  }
  throw new Error('redis-server did not answer');
}
