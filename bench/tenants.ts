/**
 * `npm run bench:tenants`: a thousand tenants on one gateway (see docs/benchmarks.md, "A
 * thousand tenants"). Not a comparison: it measures what tenants cost.
 *
 * 1. Provisions N tenants (a database each, migrated) and a key each over the admin API of
 *    the built `node dist/cli.js serve`, on real PostgreSQL and Redis, a few at a time: the
 *    time per tenant.
 * 2. Runs `llm-backend migrate --concurrency C` over all of them: the time to check every
 *    tenant database's schema.
 * 3. Spreads chat completions over every tenant, round after round: the gateway's resident
 *    memory, the connections PostgreSQL has open to the run's databases (sampled), and
 *    whether every answered request got its usage record, with the tenant pools capped at
 *    TENANT_POOLS_MAX.
 * 4. Drops every database and Redis key the run made.
 *
 *   npm run bench:tenants                               1,000 tenants
 *   npm run bench:tenants -- --tenants 100 --rounds 2   a quick look
 *   npm run bench:tenants -- --pools-max 200 --pool-connections 5   the production defaults
 *   npm run bench:tenants -- --skip-build               use dist/ as it is
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startProcess, stop, stopAll, waitForHttp } from './children.js';
import {
  CONTROL_DB,
  checkStores,
  dropLeftovers,
  dropRunData,
  rememberTenant,
  sql,
  stores,
  USAGE_STREAM,
  withDatabase,
} from './stores.js';
import {
  chatLoad,
  gatewayFigures,
  inParallel,
  percentiles,
  startUpstream,
} from './tenants-load.js';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);

function options() {
  const { values } = parseArgs({
    options: {
      tenants: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '3' },
      // The default fits a server with PostgreSQL's default max_connections (100), which
      // others share: 20 pools of 2 connections, the control plane's 10 and migrate's.
      'pools-max': { type: 'string', default: '20' },
      'pool-connections': { type: 'string', default: '2' },
      'skip-build': { type: 'boolean', default: false },
    },
  });
  const whole = (name: string, value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number >= 1`);
    return n;
  };
  return {
    tenants: whole('tenants', values.tenants),
    concurrency: whole('concurrency', values.concurrency),
    rounds: whole('rounds', values.rounds),
    poolsMax: whole('pools-max', values['pools-max']),
    poolConnections: whole('pool-connections', values['pool-connections']),
    build: !values['skip-build'],
  };
}

const log = (line: string) => console.log(line);
const PORT = 18_000 + (process.pid % 1000);

async function admin<T>(adminKey: string, method: string, path: string, body: unknown) {
  const response = await fetch(`http://127.0.0.1:${PORT}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

/** The run's connections on the PostgreSQL server: to its control and tenant databases. */
async function openConnections(): Promise<{ total: number; databases: number }> {
  const [row] = await sql<{ total: number; databases: number }>(
    null,
    `SELECT count(*)::int AS total, count(DISTINCT datname)::int AS databases
     FROM pg_stat_activity WHERE datname LIKE $1`,
    [`${CONTROL_DB}%`],
  );
  return row ?? { total: 0, databases: 0 };
}

async function main(): Promise<void> {
  const opts = options();
  await checkStores();
  const leftovers = await dropLeftovers();
  if (leftovers.length > 0) log(`dropped ${leftovers.length} databases left by killed runs`);
  if (opts.build) {
    log('building (npm run build)');
    execFileSync('npm', ['run', 'build'], { stdio: 'pipe' });
  }
  const dir = mkdtempSync(join(tmpdir(), 'llmb-bench-tenants-'));
  const upstream = await startUpstream();
  const config = join(dir, 'llm-backend.yaml');
  writeFileSync(
    config,
    `providers:\n  upstream:\n    type: openai-compatible\n    base_url: ${upstream.url}/v1\nmodels:\n  - name: bench-model\n    provider: upstream\n`,
  );
  const adminKey = execFileSync(process.execPath, ['dist/cli.js', 'admin-key', 'generate'], {
    encoding: 'utf8',
  }).trim();
  await sql(null, `CREATE DATABASE "${CONTROL_DB}"`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HOST: '127.0.0.1',
    PORT: String(PORT),
    DATABASE_URL: withDatabase(stores.postgresUrl, CONTROL_DB),
    REDIS_URL: stores.redisUrl,
    MASTER_KEY: randomBytes(32).toString('hex'),
    BOOTSTRAP_ADMIN_KEY: adminKey,
    CONFIG_FILE: config,
    DATA_DIR: dir,
    LOG_LEVEL: 'warn',
    USAGE_STREAM,
    TENANT_POOLS_MAX: String(opts.poolsMax),
    TENANT_POOL_CONNECTIONS: String(opts.poolConnections),
    SHUTDOWN_GRACE_MS: '2000',
  };
  const gateway = startProcess(
    process.execPath,
    ['dist/cli.js', 'serve'],
    env,
    join(dir, 'gateway.log'),
  );
  try {
    await waitForHttp(`http://127.0.0.1:${PORT}/health/ready`, gateway, 60_000);
    const pid = gateway.pid ?? 0;
    const atStart = await gatewayFigures(pid, PORT);
    log(`gateway up: ${(atStart.rssBytes / 2 ** 20).toFixed(0)} MiB resident`);

    // 1. Provisioning.
    const tag = randomBytes(2).toString('hex');
    const secrets: string[] = [];
    const createMs: number[] = [];
    const provisionStarted = Date.now();
    await inParallel(opts.tenants, opts.concurrency, async (index) => {
      const slug = `t${tag}-${index}`;
      const started = performance.now();
      const tenant = await admin<{ id: string }>(adminKey, 'POST', '/tenants', {
        slug,
        name: slug,
      });
      createMs.push(performance.now() - started);
      rememberTenant(tenant.id);
      const key = await admin<{ secret: string }>(adminKey, 'POST', `/tenants/${slug}/api-keys`, {
        name: 'bench',
        role: 'member',
      });
      secrets[index] = key.secret;
      if ((index + 1) % 100 === 0) log(`provisioned ${index + 1}/${opts.tenants}`);
    });
    const provisionMs = Date.now() - provisionStarted;
    const afterProvisioning = await gatewayFigures(pid, PORT);
    log(`provisioned ${opts.tenants} tenants in ${(provisionMs / 1000).toFixed(1)} s`);

    // 2. Migrations: every tenant database checked (and brought up to date) at once.
    const migrateStarted = Date.now();
    const output = execFileSync(
      process.execPath,
      ['dist/cli.js', 'migrate', '--concurrency', String(opts.concurrency)],
      { env, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 },
    );
    const migrateMs = Date.now() - migrateStarted;
    const migrated = output.split('\n').filter((line) => line.startsWith('tenant ')).length;
    log(
      `migrate --concurrency ${opts.concurrency}: ${migrated} tenants in ${(migrateMs / 1000).toFixed(1)} s`,
    );

    // 3. Traffic over every tenant.
    let mostConnections = { total: 0, databases: 0 };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const now = await openConnections();
        if (now.total > mostConnections.total) mostConnections = now;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    const load = await chatLoad(`http://127.0.0.1:${PORT}`, secrets, opts.rounds, 32, log);
    sampling = false;
    await sampler;
    const afterTraffic = await gatewayFigures(pid, PORT);
    const usage = await usageRecords(opts.tenants);
    const settled = await openConnections();
    const result = {
      command: `npm run bench:tenants -- --tenants ${opts.tenants} --concurrency ${opts.concurrency} --rounds ${opts.rounds} --pools-max ${opts.poolsMax} --pool-connections ${opts.poolConnections}`,
      at: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        model: cpus()[0]?.model,
        memoryBytes: totalmem(),
        loadavg: loadavg(),
      },
      tenants: opts.tenants,
      provisioning: {
        concurrency: opts.concurrency,
        totalMs: provisionMs,
        perTenantMs: provisionMs / opts.tenants,
        createLatencyMs: percentiles(createMs),
      },
      migrate: {
        concurrency: opts.concurrency,
        tenants: migrated,
        totalMs: migrateMs,
        perTenantMs: migrateMs / Math.max(1, migrated),
      },
      traffic: { ...load, usageRecords: usage, everyRequestAccounted: usage === load.answered },
      memory: {
        atStartBytes: atStart.rssBytes,
        afterProvisioningBytes: afterProvisioning.rssBytes,
        afterTrafficBytes: afterTraffic.rssBytes,
        perTenantBytes: (afterTraffic.rssBytes - atStart.rssBytes) / opts.tenants,
      },
      connections: {
        poolsMax: opts.poolsMax,
        connectionsPerPool: opts.poolConnections,
        mostOpenDuringTraffic: mostConnections,
        openAfterTraffic: settled,
        gatewayTenantPoolConnections: afterTraffic.tenantPoolConnections,
      },
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/tenants.json', `${JSON.stringify(result, null, 2)}\n`);
    log(JSON.stringify(result, null, 2));
  } finally {
    await stop(gateway, 10_000);
    await upstream.close();
    await stopAll(5000);
    log("dropping the run's databases");
    await dropRunData();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Usage records in every tenant database of the run, once the workers stopped writing. */
async function usageRecords(tenants: number): Promise<number> {
  const count = async () => {
    const rows = await sql<{ datname: string }>(
      null,
      'SELECT datname FROM pg_database WHERE datname LIKE $1',
      [`${CONTROL_DB}_tnt_%`],
    );
    let total = 0;
    await inParallel(rows.length, 8, async (index) => {
      const name = rows[index]?.datname;
      if (name === undefined) return;
      const [row] = await sql<{ n: string }>(name, 'SELECT count(*) AS n FROM usage_records');
      total += Number(row?.n ?? 0);
    });
    if (rows.length !== tenants) throw new Error(`${rows.length} tenant databases, not ${tenants}`);
    return total;
  };
  let last = -1;
  for (;;) {
    const now = await count();
    if (now === last) return now;
    last = now;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

main().catch(async (error: unknown) => {
  console.error(error);
  await stopAll(2000);
  await dropRunData().catch(() => {});
  process.exit(1);
});
