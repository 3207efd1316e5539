/**
 * Our gateway as it runs in production: the built `node dist/cli.js serve`, on real
 * PostgreSQL (a fresh control database for the run, `llmb_bench_<pid>`, and its tenant's
 * database next to it, both dropped at the end) and Redis, with a tenant, a user and a key
 * provisioned over the admin API, rate limits and quotas set high enough never to refuse,
 * and usage events written by the default in-process workers. At the end it checks that
 * the tenant holds one usage record per request the gateway answered.
 */

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { startProcess, stop, waitForHttp } from './children.js';
import { requestBody, type Target } from './protocol.js';
import {
  CONTROL_DB,
  connectRedis,
  rememberTenant,
  sql,
  stores,
  USAGE_STREAM,
  withDatabase,
  withRedis,
} from './stores.js';

export interface LlmBackendOptions {
  upstreamPort: number;
  port: number;
  logLevel: string;
  logFile: string;
  /** A directory for `node --cpu-prof`, or null. */
  cpuProfDir: string | null;
  /** Settings over the bench's own (the capacity bench: `USAGE_WORKERS=0`). */
  env?: NodeJS.ProcessEnv;
}

interface Provisioned {
  tenantId: string;
  secret: string;
}

export interface Accounting {
  /** Requests to /v1/chat/completions the gateway answered, from its own /metrics. */
  answered: number;
  answeredByStatus: Record<string, number>;
  /** Chat requests the fake upstream received from the gateway during its run. */
  upstreamReceived: number;
  /** Rows in the tenant's usage_records. */
  records: number;
  /** Rows by the status they recorded (499: the client went away first). */
  byStatus: Record<string, number>;
  /** How long the records took to catch up after the last request (or to stop moving). */
  waitedMs: number;
  /** Events the workers set aside as unwritable (`<USAGE_STREAM>:dead`). */
  deadLetters: number;
  ok: boolean;
}

export interface Counters {
  commands: Record<string, number>;
  transactions: Record<string, number>;
  /** Clients of the Redis server on another database than the gateway's, at this moment. */
  otherClients: number;
}

/** The response cache's header: present on answers once the gateway has a cache. */
export const CACHE_HEADER = 'x-llm-backend-cache';

/** The gateway's response cache, as the cache phase sees it. */
export interface CacheSwitch {
  /** Sends the bench request once; the cache header of the answer, or null without one. */
  probe(): Promise<string | null>;
  /** Turns the bench tenant's response cache on or off. */
  setCache(enabled: boolean): Promise<void>;
}

export class LlmBackend implements CacheSwitch {
  private child: ReturnType<typeof startProcess> | null = null;
  private tenant: Provisioned | null = null;
  /** One connection for the counters, so that reading them adds only its INFO calls. */
  private redis: Redis | null = null;
  private readonly baseUrl: string;
  private readonly adminKey: string;
  private readonly dir = mkdtempSync(join(tmpdir(), 'llmb-bench-'));
  /** The gateway's environment, which a `llm-backend worker` beside it shares. */
  env: NodeJS.ProcessEnv = {};

  constructor(private readonly options: LlmBackendOptions) {
    this.baseUrl = `http://127.0.0.1:${options.port}`;
    this.adminKey = execFileSync(process.execPath, ['dist/cli.js', 'admin-key', 'generate'], {
      encoding: 'utf8',
    }).trim();
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** The bench tenant's own database. */
  get tenantDatabase(): string {
    if (this.tenant === null) throw new Error('not provisioned');
    return `${CONTROL_DB}_${this.tenant.tenantId}`;
  }

  async start(): Promise<Target> {
    const { upstreamPort, port, logLevel, logFile, cpuProfDir } = this.options;
    await sql(null, `CREATE DATABASE "${CONTROL_DB}"`);
    const config = join(this.dir, 'llm-backend.yaml');
    writeFileSync(
      config,
      [
        'providers:',
        '  upstream:',
        '    type: openai-compatible',
        `    base_url: http://127.0.0.1:${upstreamPort}/v1`,
        // The default (256) would queue the 1,000 held streams behind one another.
        '    max_connections: 4096',
        'models:',
        '  - name: bench-model',
        '    provider: upstream',
        '    pricing: { input: 0.15, output: 0.6 }',
        '',
      ].join('\n'),
    );
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: withDatabase(stores.postgresUrl, CONTROL_DB),
      REDIS_URL: stores.redisUrl,
      MASTER_KEY: randomBytes(32).toString('hex'),
      BOOTSTRAP_ADMIN_KEY: this.adminKey,
      CONFIG_FILE: config,
      DATA_DIR: this.dir,
      LOG_LEVEL: logLevel,
      USAGE_STREAM,
      SHUTDOWN_GRACE_MS: '2000',
      ...this.options.env,
    };
    this.env = env;
    const node: string[] = [];
    if (cpuProfDir !== null) {
      mkdirSync(cpuProfDir, { recursive: true });
      node.push('--cpu-prof', '--cpu-prof-dir', cpuProfDir);
    }
    this.child = startProcess(process.execPath, [...node, 'dist/cli.js', 'serve'], env, logFile);
    await waitForHttp(`${this.baseUrl}/health/ready`, this.child);
    this.tenant = await this.provision();
    return {
      url: `${this.baseUrl}/v1/chat/completions`,
      headers: { authorization: `Bearer ${this.tenant.secret}` },
    };
  }

  private async admin<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${this.adminKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  }

  /** A tenant, a user and its key; limits and quotas on all three, far above the load. */
  private async provision(): Promise<Provisioned> {
    const tenant = await this.admin<{ id: string }>('POST', '/tenants', {
      slug: 'bench',
      name: 'Benchmark',
    });
    rememberTenant(tenant.id);
    const base = '/tenants/bench';
    const user = await this.admin<{ id: string }>('POST', `${base}/users`, {
      email: 'bench@bench.example',
      name: 'Bench',
      role: 'member',
    });
    const key = await this.admin<{ id: string; secret: string }>('POST', `${base}/api-keys`, {
      name: 'bench',
      role: 'member',
      user_id: user.id,
    });
    const targets = [
      { scope: 'tenant' },
      { scope: 'user', subject_id: user.id },
      { scope: 'key', subject_id: key.id },
    ];
    for (const target of targets) {
      await this.admin('POST', `${base}/limits`, {
        ...target,
        requests_per_minute: 2_000_000_000,
        tokens_per_minute: 2_000_000_000,
        max_concurrent_requests: 1_000_000,
      });
      await this.admin('POST', `${base}/quotas`, {
        ...target,
        metric: 'tokens',
        period: 'day',
        amount: 1_000_000_000,
        thresholds: [80, 100],
      });
    }
    // A million dollars: the API takes up to a billion, but the counters hold spend in
    // nano-dollars and a billion of those passes 2^53 (every check then fails open).
    await this.admin('POST', `${base}/quotas`, {
      scope: 'tenant',
      metric: 'cost',
      period: 'month',
      amount: 1_000_000,
      thresholds: [50, 80, 100],
    });
    return { tenantId: tenant.id, secret: key.secret };
  }

  /** Requests to /v1/chat/completions the gateway answered, by status, from its /metrics. */
  private async answered(): Promise<Record<string, number>> {
    const metrics = await (await fetch(`${this.baseUrl}/metrics`)).text();
    const byStatus: Record<string, number> = {};
    for (const line of metrics.split('\n')) {
      if (
        !line.startsWith('llm_backend_http_requests_total{') ||
        !line.includes('route="/v1/chat/completions"')
      )
        continue;
      const status = /status="(\d+)"/.exec(line)?.[1] ?? '?';
      byStatus[status] = (byStatus[status] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return byStatus;
  }

  /**
   * Waits for the workers to write what is queued (until the count matches, or stops
   * moving for `stallMs`), then counts the tenant's records.
   */
  async accounting(upstreamReceived: number, stallMs = 3000): Promise<Accounting> {
    const answeredByStatus = await this.answered();
    const answered = Object.values(answeredByStatus).reduce((sum, n) => sum + n, 0);
    const database = this.tenantDatabase;
    const count = async () =>
      Number((await sql<{ n: string }>(database, 'SELECT count(*) AS n FROM usage_records'))[0]?.n);
    const started = Date.now();
    let records = await count();
    let moved = Date.now();
    while (records < answered && Date.now() - moved < stallMs) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const now = await count();
      if (now !== records) moved = Date.now();
      records = now;
    }
    const waitedMs = Date.now() - started;
    const deadLetters = await withRedis((redis) => redis.xlen(`${USAGE_STREAM}:dead`));
    const rows = await sql<{ status: number; n: string }>(
      database,
      'SELECT status, count(*) AS n FROM usage_records GROUP BY status ORDER BY status',
    );
    const byStatus = Object.fromEntries(rows.map((row) => [String(row.status), Number(row.n)]));
    return {
      answered,
      answeredByStatus,
      upstreamReceived,
      records,
      byStatus,
      waitedMs,
      deadLetters,
      ok: accountedExactly(answeredByStatus, byStatus),
    };
  }

  /**
   * Commands Redis has run (by command; the whole server, so anything else using it shows)
   * and transactions in this run's databases (`control`, `tenant`). PostgreSQL publishes a
   * connection's counts up to a second late, so read them after a pause.
   */
  async counters(): Promise<Counters> {
    this.redis ??= await connectRedis();
    const info = await this.redis.info('commandstats');
    const commands: Record<string, number> = {};
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
      commands[match[1] ?? '?'] = Number(match[2]);
    // Commandstats count the whole server: clients on other databases (tests, other runs)
    // add theirs, so the figures say when there were any.
    const db = new URL(stores.redisUrl).pathname.slice(1) || '0';
    const clients = String(await this.redis.call('CLIENT', 'LIST'));
    const otherClients = clients
      .split('\n')
      .filter((line) => line.length > 0 && !line.includes(` db=${db} `)).length;
    const rows = await sql<{ datname: string; n: string }>(
      null,
      'SELECT datname, xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname LIKE $1',
      [`${CONTROL_DB}%`],
    );
    const transactions: Record<string, number> = {};
    for (const row of rows) {
      transactions[row.datname === CONTROL_DB ? 'control' : 'tenant'] = Number(row.n);
    }
    return { commands, transactions, otherClients };
  }

  async probe(): Promise<string | null> {
    if (this.tenant === null) throw new Error('not provisioned');
    const response = await fetch(`${this.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${this.tenant.secret}`,
        'content-type': 'application/json',
      },
      body: requestBody(false),
    });
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`the cache probe got ${response.status}`);
    return response.headers.get(CACHE_HEADER);
  }

  /**
   * The one place that knows how a tenant's cache is switched: the admin API's `cache`
   * resource of the tenant. Until the gateway has it this fails, and the cache phase says
   * it is not available.
   */
  async setCache(enabled: boolean): Promise<void> {
    // null hands both back to the models' configuration.
    const setting = enabled ? true : null;
    await this.admin('PUT', '/tenants/bench/cache', {
      enabled: setting,
      allow_nondeterministic: setting,
    });
  }

  async stop(): Promise<void> {
    this.redis?.disconnect();
    this.redis = null;
    // Long enough for a graceful close and, with --cpu-prof, the profile to be written.
    if (this.child !== null) await stop(this.child, 20_000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Every request that got a response has exactly one record with its status. A request whose
 * client went away first (499) has at most one: none if its upstream had not answered, and
 * one with status 200 if its answer's usage was committed (before the last byte) just before
 * the client left, as happens to requests cut at the end of a timed phase.
 */
export function accountedExactly(
  answered: Readonly<Record<string, number>>,
  recorded: Readonly<Record<string, number>>,
): boolean {
  const count = (of: Readonly<Record<string, number>>, status: string) => of[status] ?? 0;
  const statuses = new Set([...Object.keys(answered), ...Object.keys(recorded)]);
  statuses.delete('200');
  statuses.delete('499');
  const left = count(answered, '499');
  const served = count(answered, '200');
  const committed = count(recorded, '200');
  return (
    committed >= served &&
    committed + count(recorded, '499') <= served + left &&
    [...statuses].every((status) => count(recorded, status) === count(answered, status))
  );
}
