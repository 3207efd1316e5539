import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { generateApiKey } from '../../src/domain/key-format.js';
import { whileHolding } from '../../src/storage/advisory-lock.js';
import { PostgresServer } from '../../src/storage/database-server.js';
import { builtCli } from '../helpers/built-cli.js';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import { eventually, upstreamConfig, writeConfigFile } from '../helpers/gateway.js';
import { type ChildRole, startRole } from '../helpers/gateway-process.js';
import { type PgBouncer, startPgBouncer } from '../helpers/pgbouncer.js';
import { TEST_DATABASE_URL } from '../helpers/services.js';
import { TEST_MASTER_KEY } from '../helpers/tenant-services.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Kysely's migration lock on PostgreSQL: a session-level advisory lock of this id. */
const MIGRATION_LOCK_ID = '3853314791062309107';

/** TEST_DATABASE_URL on another database. */
function onDatabase(name: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function onClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** `llm-backend migrate` as its own process; resolves with its exit code and output. */
async function migrate(env: Record<string, string>, children: Set<ChildProcess>) {
  const child = spawn(process.execPath, [await builtCli(), 'migrate'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout?.on('data', (data: Buffer) => {
    output += data.toString();
  });
  child.stderr?.on('data', (data: Buffer) => {
    output += data.toString();
  });
  return once(child, 'exit').then(([code]) => {
    children.delete(child);
    return { code: code as number | null, output };
  });
}

/**
 * A gateway whose DATABASE_URL is PgBouncer in transaction mode (a wildcard entry, so the
 * tenant databases resolve too), with DATABASE_DIRECT_URL for what needs a session of its
 * own: migrations and creating and dropping databases.
 */
describe('PostgreSQL through PgBouncer in transaction mode', () => {
  const upstream = new FakeUpstream();
  const children = new Set<ChildProcess>();
  const adminKey = generateApiKey();
  const control = `llmb_test_${randomBytes(4).toString('hex')}`;
  let bouncer: PgBouncer;
  let gateway: ChildRole & { url: string };
  let env: Record<string, string>;

  const admin = async (path: string, body?: unknown) => {
    const response = await fetch(`${gateway.url}/admin/v1${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Bearer ${adminKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  /** PgBouncer's transaction count per database it has served. */
  const transactions = async () =>
    new Map(
      (await bouncer.show<{ database: string; total_xact_count: string }>('SHOW STATS')).map(
        (row) => [row.database, Number(row.total_xact_count)],
      ),
    );

  beforeAll(async () => {
    await upstream.start();
    upstream.always((_req, res) => json(res, 200, chatCompletion('through pgbouncer')));
    await onClient(TEST_DATABASE_URL, (client) => client.query(`create database "${control}"`));
    const server = new URL(TEST_DATABASE_URL);
    bouncer = await startPgBouncer({ host: server.hostname, port: Number(server.port || 5432) });
    env = {
      DATABASE_URL: bouncer.through(onDatabase(control)),
      DATABASE_DIRECT_URL: onDatabase(control),
      BOOTSTRAP_ADMIN_KEY: adminKey,
      MASTER_KEY: TEST_MASTER_KEY,
      CONFIG_FILE: writeConfigFile(upstreamConfig(upstream.url)),
      TEST_UPSTREAM_KEY: 'unused',
      PORT: '0',
    };
    gateway = await startRole('serve', env, children);
  }, 120_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await bouncer?.stop();
    await onClient(TEST_DATABASE_URL, async (client) => {
      const { rows } = await client.query<{ datname: string }>(
        "select datname from pg_database where datname like $1 || '%'",
        [control],
      );
      for (const { datname } of rows) await client.query(`drop database "${datname}" with (force)`);
    });
    await upstream.stop();
  }, 60_000);

  it('creates a tenant and keys, answers through the SDK, records usage and audit', async () => {
    const tenant = await admin('/tenants', { slug: 'pooled', name: 'Pooled' });
    expect(tenant.status).toBe(201);
    const key = await admin('/tenants/pooled/api-keys', { name: 'app', role: 'owner' });
    expect(key.status).toBe(201);
    const client = new OpenAI({
      apiKey: String(key.body.secret),
      baseURL: `${gateway.url}/v1`,
      maxRetries: 0,
    });
    const completion = await client.chat.completions.create(
      { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'x-request-id': 'req-through-pgbouncer' } },
    );
    expect(completion.choices[0]?.message.content).toBe('through pgbouncer');
    // The usage worker of `serve` writes the record, through PgBouncer.
    await eventually(async () => {
      const usage = await admin('/tenants/pooled/usage');
      expect(usage.status).toBe(200);
      expect(usage.body.totals).toMatchObject({ requests: 1 });
    }, 30_000);
    const audit = await admin('/tenants/pooled/audit-logs');
    expect(audit.status).toBe(200);
    const actions = (audit.body.data as { action: string }[]).map((entry) => entry.action);
    expect(actions).toContain('api_key.create');
    // A bad request changes nothing, through the pooler as directly.
    const refused = await admin('/tenants', { slug: 'Not A Slug', name: 'x' });
    expect(refused.status).toBe(400);

    // The control plane's and the tenant's transactions went through PgBouncer.
    const { database_name: tenantDatabase } = await onClient(onDatabase(control), async (c) => {
      const { rows } = await c.query<{ database_name: string }>(
        "select database_name from tenants where slug = 'pooled'",
      );
      return rows[0] ?? { database_name: '' };
    });
    const counts = await transactions();
    expect(counts.get(control)).toBeGreaterThan(0);
    expect(counts.get(tenantDatabase)).toBeGreaterThan(0);
  }, 90_000);

  it('runs migrations over the direct URL: a second migrator waits for the lock, then both finish', async () => {
    // Kysely's migration lock, held by a session of our own on the control database.
    const holder = new pg.Client({ connectionString: onDatabase(control) });
    await holder.connect();
    try {
      await holder.query(`select pg_advisory_lock(${MIGRATION_LOCK_ID})`);
      const runs = [migrate(env, children), migrate(env, children)];
      await eventually(async () => {
        const { rows } = await holder.query<{ waiting: string }>(
          `select count(*) as waiting from pg_locks l join pg_database d on d.oid = l.database
           where l.locktype = 'advisory' and not l.granted and d.datname = $1`,
          [control],
        );
        expect(Number(rows[0]?.waiting)).toBe(2);
      }, 60_000);
      await holder.query(`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`);
      // Each releases the lock on the session that took it, or the other would never finish.
      for (const run of await Promise.all(runs)) expect(run, run.output).toMatchObject({ code: 0 });
    } finally {
      await holder.end();
    }
  }, 120_000);

  it('keeps a transaction-scoped lock through the pooler: a second holder is refused until the first ends', async () => {
    const server = new PostgresServer(bouncer.through(onDatabase(control)));
    const [first, second] = [server.open(null), server.open(null)];
    try {
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let started = () => {};
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      const holding = whileHolding(first, 'pgbouncer-test', async () => {
        started();
        await held;
        return 'first';
      });
      await running;
      // Other sessions, on other server connections: refused while the first holds it.
      expect(await whileHolding(second, 'pgbouncer-test', async () => 'second')).toBeNull();
      release();
      expect(await holding).toBe('first');
      expect(await whileHolding(second, 'pgbouncer-test', async () => 'second')).toBe('second');
    } finally {
      await first.destroy();
      await second.destroy();
      await server.close();
    }
  }, 60_000);
});

describe('DATABASE_DIRECT_URL and direct_url_env', () => {
  const config = (servers?: Record<string, unknown>) =>
    writeConfigFile({
      providers: { mock: { type: 'mock' } },
      models: [{ name: 'mock-chat', provider: 'mock' }],
      ...(servers === undefined ? {} : { database_servers: servers }),
    });

  it('are read as the direct routes of the control plane and of each server', () => {
    const loaded = loadConfig({
      CONFIG_FILE: config({ 'eu-1': { url_env: 'EU_URL', direct_url_env: 'EU_DIRECT_URL' } }),
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_DIRECT_URL: TEST_DATABASE_URL,
      EU_URL: TEST_DATABASE_URL,
      EU_DIRECT_URL: onDatabase('eu_direct'),
    });
    expect(loaded.env.databaseDirectUrl).toBe(TEST_DATABASE_URL);
    expect(loaded.databaseServers[0]?.directUrl).toBe(onDatabase('eu_direct'));
  });

  it('refuses a URL that is not PostgreSQL, one without DATABASE_URL, and one on default', () => {
    const load = (env: Record<string, string>, servers?: Record<string, unknown>) => () =>
      loadConfig({ CONFIG_FILE: config(servers), ...env });
    expect(
      load({ DATABASE_URL: TEST_DATABASE_URL, DATABASE_DIRECT_URL: 'redis://127.0.0.1' }),
    ).toThrow(/DATABASE_DIRECT_URL/);
    expect(load({ DATABASE_DIRECT_URL: TEST_DATABASE_URL })).toThrow(
      /DATABASE_DIRECT_URL needs DATABASE_URL/,
    );
    expect(
      load(
        { DATABASE_URL: TEST_DATABASE_URL, X_URL: TEST_DATABASE_URL },
        { default: { direct_url_env: 'X_URL' } },
      ),
    ).toThrow(ConfigError);
  });
});
