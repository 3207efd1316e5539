/**
 * `npm run bench:capacity`: the figures docs/scaling.md sizes deployments from, measured on
 * the bench harness (its fake upstream, load generator, gateway and stores; see
 * docs/benchmarks.md). Two phases on one gateway:
 *
 * 1. Gateway: non-streamed chat completions at saturation, the gateway only publishing usage
 *    (`USAGE_WORKERS=0`, as in a deployment with separate workers): requests per CPU-second
 *    of the gateway, Redis commands (and Redis CPU) per request, PostgreSQL commits and rows
 *    per request.
 * 2. Worker: one `llm-backend worker` process then writes the backlog the first phase queued:
 *    usage records per second and per worker CPU-second, PostgreSQL commits and rows per
 *    record, and the usage table's bytes per record.
 *
 * Then `redis-benchmark` for what one Redis server does on this machine. The raw figures go
 * to bench/results/capacity-<date>.json.
 *
 *   npm run bench:capacity                       20 s at saturation
 *   npm run bench:capacity -- --seconds 40 --connections 64 --skip-build
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  cpuSeconds,
  databaseBytes,
  pgBetween,
  readPg,
  readRedis,
  redisBenchmark,
  redisBetween,
  serverSettings,
  usageTable,
} from './capacity-probes.js';
import { countRecords, ownRedis, RESULTS, round, sleep, workerPhase } from './capacity-worker.js';
import { killAllNow, stopAll, Worker } from './children.js';
import { LlmBackend } from './llm-backend.js';
import type { LoadResult } from './protocol.js';
import { formatJson } from './report.js';
import {
  CONTROL_DB,
  checkStores,
  connectRedis,
  dropLeftovers,
  dropRunData,
  stores,
  withRedis,
} from './stores.js';
import { freePort } from './systems.js';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    connections: { type: 'string', default: '64' },
    'skip-build': { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);

let cleaning: Promise<void> | null = null;
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    // Before the processes stop: one of them may be the run's own Redis.
    await dropRunData().catch((error) => console.error(String(error)));
    await stopAll(5000);
  })();
  return cleaning;
}
process.on('SIGINT', () => void cleanUp().finally(() => process.exit(130)));
process.on('exit', killAllNow);

/** Phase 1: the gateway at saturation, usage only queued. */
async function gatewayPhase(gateway: LlmBackend, load: Worker) {
  const target = await gateway.start();
  const pid = gateway.pid ?? 0;
  const tenantDb = gateway.tenantDatabase;
  // A tenant's database as created and migrated, before any request: the cost of a tenant.
  const emptyTenantBytes = await databaseBytes(tenantDb);
  const run = (durationSec: number) =>
    load.run<LoadResult>({ kind: 'load', request: { target, connections, durationSec } });
  console.log(`  warm-up 3 s at ${connections} connections`);
  await run(3);
  await sleep(1500);
  const redis = await connectRedis();
  try {
    const before = {
      cpu: cpuSeconds(pid),
      redis: await readRedis(redis),
      control: await readPg(CONTROL_DB),
      tenant: await readPg(tenantDb),
    };
    console.log(`  saturation ${seconds} s at ${connections} connections`);
    const result = await run(seconds);
    const cpu = cpuSeconds(pid) - before.cpu;
    // PostgreSQL's statistics arrive up to a second late.
    await sleep(1500);
    const redisIo = redisBetween(before.redis, await readRedis(redis));
    const control = pgBetween(before.control, await readPg(CONTROL_DB));
    const tenant = pgBetween(before.tenant, await readPg(tenantDb));
    const n = result.ok + result.non2xx;
    const per = (value: number) => round(value / n, 3);
    return {
      load: result,
      gateway_cpu_seconds: round(cpu),
      requests_per_cpu_second: round(result.ok / cpu, 0),
      redis_commands: redisIo.commands,
      redis_commands_per_request: per(redisIo.commands),
      redis_commands_by_command_per_request: Object.fromEntries(
        Object.entries(redisIo.byCommand)
          .sort((a, b) => b[1] - a[1])
          .map(([name, count]) => [name, per(count)]),
      ),
      redis_cpu_seconds: round(redisIo.cpuSeconds),
      redis_cpu_microseconds_per_request: round((redisIo.cpuSeconds * 1e6) / n, 1),
      postgres_control: { ...control, commits_per_request: per(control.commits) },
      postgres_tenant: { ...tenant, commits_per_request: per(tenant.commits) },
      records_written_during_phase: await countRecords(tenantDb),
      empty_tenant_database_bytes: emptyTenantBytes,
    };
  } finally {
    redis.disconnect();
  }
}

async function main(): Promise<void> {
  const loadBefore = loadavg();
  mkdirSync(RESULTS, { recursive: true });
  const redisServer = await ownRedis();
  await checkStores();
  await dropLeftovers();
  if (!values['skip-build']) {
    console.log('building (npm run build)');
    execFileSync('npm', ['run', 'build'], { stdio: 'pipe' });
  }
  const upstream = new Worker('upstream', 'bench/upstream.ts');
  const load = new Worker('load generator', 'bench/load.ts');
  const gateway = new LlmBackend({
    upstreamPort: await upstream.port(),
    port: await freePort(),
    logLevel: 'warn',
    logFile: join(RESULTS, 'capacity-gateway.log'),
    cpuProfDir: null,
    env: { USAGE_WORKERS: '0' },
  });
  try {
    console.log('gateway phase');
    const gatewayFigures = await gatewayPhase(gateway, load);
    console.log(`  ${JSON.stringify(gatewayFigures)}`);
    // The gateway stays up, idle: the worker shares its configuration file.
    console.log('worker phase');
    const all = await countRecords(gateway.tenantDatabase).catch(() => 0);
    const expected =
      all + (await withRedis((redis) => redis.xlen(String(gateway.env.USAGE_STREAM))));
    const workerFigures = await workerPhase(gateway, expected);
    console.log(`  ${JSON.stringify(workerFigures)}`);
    const table = await usageTable(gateway.tenantDatabase);
    console.log(`  usage table: ${JSON.stringify(table)}`);
    console.log('redis-benchmark');
    const benchmark = redisBenchmark(stores.redisUrl, 200_000);
    await withRedis((redis) =>
      redis.del('key:__rand_int__', 'counter:__rand_int__', 'mylist', 'llmb:bench:capacity:stream'),
    );
    console.log(`  ${JSON.stringify(benchmark)}`);
    const json = {
      meta: {
        date: new Date().toISOString(),
        node: process.version,
        cpu: cpus()[0]?.model ?? 'unknown',
        cpus: cpus().length,
        load_average_before: loadBefore.map((n) => round(n)),
        load_average_after: loadavg().map((n) => round(n)),
        commit: execFileSync('git', ['describe', '--always', '--dirty'], {
          encoding: 'utf8',
        }).trim(),
        seconds,
        connections,
        redis: redisServer,
        postgres: await serverSettings(),
        request: 'non-streamed chat completion, one short message, max_tokens 32',
      },
      gateway: gatewayFigures,
      worker: workerFigures,
      usage_table: table,
      redis_benchmark: benchmark,
    };
    const stamp = json.meta.date.slice(0, 16).replace(':', '-');
    const file = join(RESULTS, `capacity-${stamp}.json`);
    writeFileSync(file, formatJson(json));
    console.log(`wrote ${file}`);
  } finally {
    await gateway.stop();
    await cleanUp();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    void cleanUp().finally(() => process.exit(1));
  },
);
