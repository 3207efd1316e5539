import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTenantCommand } from '../../src/cli/tenant-commands.js';
import { RedisTenantFence } from '../../src/services/tenancy/tenant-fence.js';
import type { TenantService } from '../../src/services/tenancy/tenant-service.js';
import { type RunningWorkers, startUsageWorkers } from '../../src/services/usage/usage-workers.js';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { type SecondPostgres, startSecondPostgres } from '../helpers/second-postgres.js';
import { redisBus, TEST_DATABASE_URL } from '../helpers/services.js';
import { openQueue } from '../helpers/usage-queues.js';

const quiet = { warn: () => {}, error: () => {} };

/** Rows of a table in a database reached directly, not through the gateway's registry. */
async function rowsIn<T>(url: string, database: string, query: string): Promise<T[]> {
  const target = new URL(url);
  target.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: target.toString() });
  await client.connect();
  try {
    return (await client.query(query)).rows as T[];
  } finally {
    await client.end();
  }
}

async function databaseExists(url: string, name: string): Promise<boolean> {
  return (
    (await rowsIn(url, 'postgres', `select 1 from pg_database where datname = '${name}'`))
      .length === 1
  );
}

describe('moving a tenant to another server', () => {
  const upstream = new FakeUpstream();
  let second: SecondPostgres;
  let gateways: [TestGateway, TestGateway];
  let workers: RunningWorkers[] = [];
  let redis: Redis;
  const queues: ReturnType<typeof openQueue>[] = [];
  const stream = `llmb:test:move-usage:${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    await upstream.start();
    upstream.always((_req, res) => json(res, 200, chatCompletion('moved or not')));
    second = await startSecondPostgres();
    redis = new Redis(TEST_REDIS_URL);
    const config = {
      ...upstreamConfig(upstream.url),
      database_servers: {
        'eu-1': { url_env: 'EU1_DATABASE_URL' },
        // Configured, but nothing listens there: a target that fails mid-way.
        'down-1': { url_env: 'DOWN_DATABASE_URL' },
      },
    };
    const env = {
      DATABASE_URL: TEST_DATABASE_URL,
      EU1_DATABASE_URL: second.url,
      DOWN_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres',
    };
    // Two instances sharing Redis: the usage stream, the bus and the fence.
    const services = async () => {
      const queue = openQueue('redis', { stream, claimIdleMs: 1000 });
      queues.push(queue);
      return { usageQueue: queue, bus: await redisBus(), fence: new RedisTenantFence(redis) };
    };
    const first = await startGateway(config, env, { services: await services() });
    const other = await startGateway(config, env, { services: await services(), share: first });
    gateways = [first, other];
    workers = gateways.map((gateway, index) =>
      startUsageWorkers({
        queue: queues[index] as ReturnType<typeof openQueue>,
        records: gateway.services.usageRecords,
        count: 1,
        log: quiet,
      }),
    );
  }, 120_000);

  afterAll(async () => {
    for (const running of workers) await running.stop();
    for (const gateway of gateways ?? []) await gateway.close();
    for (const queue of queues) await queue.close().catch(() => {});
    redis?.disconnect();
    await second?.stop();
    await upstream.stop();
  }, 120_000);

  const tenants = (): TenantService => gateways[0].services.tenants;

  async function tenantWithKey(prefix: string) {
    const slug = `${prefix}-${randomBytes(3).toString('hex')}`;
    const tenant = await tenants().create({ slug, name: slug });
    const user = await gateways[0].services.users.create(slug, {
      email: `owner@${slug}.test`,
      name: 'Owner',
      role: 'owner',
    });
    const { secret } = await gateways[0].services.keys.create(slug, {
      name: 'traffic',
      role: 'owner',
      userId: user.id,
    });
    await gateways[0].services.keys.create(slug, { name: 'spare', role: 'member' });
    return { slug, tenant, secret };
  }

  async function cli(...args: string[]): Promise<string[]> {
    const lines: string[] = [];
    await runTenantCommand(args, tenants(), { line: (text) => lines.push(text) });
    return lines;
  }

  it('moves a tenant under traffic on two instances: nothing lost, the other instance follows', async () => {
    const { slug, tenant, secret } = await tenantWithKey('move-live');
    const clients = gateways.map(
      (gateway) => new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 }),
    );
    const answered: string[] = [];
    const retryable: string[] = [];
    const failures: string[] = [];
    let stop = false;
    const loop = async (client: OpenAI, lane: number) => {
      for (let i = 0; !stop; i++) {
        const requestId = `req_move_${lane}_${i}_${randomBytes(3).toString('hex')}`;
        try {
          await client.chat.completions.create(
            { model: 'gpt-test', messages: [{ role: 'user', content: `hello ${i}` }] },
            { headers: { 'x-request-id': requestId } },
          );
          answered.push(requestId);
        } catch (error) {
          if (
            error instanceof OpenAI.APIError &&
            error.status === 503 &&
            error.code === 'tenant_moving'
          )
            retryable.push(requestId);
          else failures.push(`${requestId}: ${String(error)}`);
        }
      }
    };
    const lanes = [0, 1, 2, 3].map((lane) => loop(clients[lane % 2] as OpenAI, lane));
    await eventually(() => expect(answered.length).toBeGreaterThan(20), 30_000);
    const beforeMove = answered.length;

    const lines = await cli('move', slug, '--to', 'eu-1');
    // Requests were answered while the move ran: it happened under traffic.
    expect(answered.length).toBeGreaterThan(beforeMove);
    expect(lines.join('\n')).toMatch(/copied \d+ rows of \d+ tables while the tenant kept serving/);
    expect(lines.join('\n')).toMatch(/switched to server 'eu-1': writes paused \d+ ms/);
    expect(lines.at(-1)).toMatch(new RegExp(`^moved ${slug} from 'default' to 'eu-1'`));
    const moved = await tenants().get(slug);
    expect(moved.server).toBe('eu-1');

    // The other instance stores a response in the tenant's database itself: once it has
    // followed, the row is on the new server (the old one takes no connections any more).
    const otherClient = clients[1] as OpenAI;
    const storedId = await eventually(async () => {
      const response = await otherClient.responses.create({
        model: 'gpt-test',
        input: 'where am I?',
        store: true,
      });
      const found = await rowsIn<{ id: string }>(
        second.url,
        tenant.databaseName,
        `select id from responses where id = '${response.id}'`,
      );
      expect(found).toHaveLength(1);
      return response.id;
    }, 30_000);
    expect(storedId).toMatch(/^resp_/);

    // Traffic went on through the move and after it.
    await eventually(() => expect(answered.length).toBeGreaterThan(beforeMove + 20), 30_000);
    stop = true;
    await Promise.all(lanes);
    expect(failures).toEqual([]);

    // Every answered request has exactly one usage record, on the new server.
    const usage = await eventually(async () => {
      const rows = await rowsIn<{ request_id: string }>(
        second.url,
        tenant.databaseName,
        `select request_id from usage_records where request_id like 'req_move_%'`,
      );
      expect(rows.length).toBeGreaterThanOrEqual(answered.length);
      return rows;
    }, 60_000);
    expect(usage.map((row) => row.request_id).sort()).toEqual([...answered].sort());
    expect(retryable.every((id) => !usage.some((row) => row.request_id === id))).toBe(true);

    // Keys, users and the audit chain came along intact.
    const keys = await gateways[1].services.keys.list(slug);
    expect(keys.map((key) => key.name).sort()).toEqual(['spare', 'traffic']);
    expect((await gateways[1].services.users.list(slug)).map((u) => u.email)).toEqual([
      `owner@${slug}.test`,
    ]);
    expect(await gateways[1].services.audit.verify(slug)).toMatchObject({ ok: true });
    const audited = await gateways[0].services.audit.list(null, { action: 'tenant.move' });
    expect(audited.data.some((entry) => entry.targetId === tenant.id)).toBe(true);
    // The old database is kept, closed to connections.
    const kept = await rowsIn<{ datallowconn: boolean }>(
      TEST_DATABASE_URL,
      'postgres',
      `select datallowconn from pg_database where datname = '${tenant.databaseName}'`,
    );
    expect(kept).toEqual([{ datallowconn: false }]);
    await dropKept(tenant.databaseName);
  }, 240_000);

  it('drops the old database with --drop-source, and moves back as JSON', async () => {
    const { slug, tenant } = await tenantWithKey('move-drop');
    const lines = await cli('move', slug, '--to', 'eu-1', '--drop-source');
    expect(lines.join('\n')).toMatch(/dropped .* on server 'default'/);
    expect(await databaseExists(TEST_DATABASE_URL, tenant.databaseName)).toBe(false);
    const back = await cli('move', slug, '--to', 'default', '--json');
    // With --json, the one line is the document.
    expect(back).toHaveLength(1);
    const printed = JSON.parse(back[0] ?? '{}') as { server: string | null; move: object };
    expect(printed).toMatchObject({
      server: null,
      move: { from: 'eu-1', to: 'default', sourceDropped: false },
    });
    expect(await databaseExists(second.url, tenant.databaseName)).toBe(true);
    expect((await gateways[0].services.keys.list(slug)).length).toBe(2);
    expect(await gateways[0].services.audit.verify(slug)).toMatchObject({ ok: true });
  }, 120_000);

  it('refuses bad moves and changes nothing', async () => {
    const { slug, tenant, secret } = await tenantWithKey('move-bad');
    const before = await tenants().get(slug);
    const expectRefused = async (ref: string, to: string, shape: object) => {
      await expect(tenants().move(ref, to)).rejects.toMatchObject(shape);
      expect(await tenants().get(slug)).toEqual(before);
    };
    await expectRefused('no-such-tenant', 'eu-1', { code: 'tenant_not_found', status: 404 });
    await expectRefused(slug, 'us-9', { code: 'invalid_request', status: 400 });
    await expectRefused(slug, 'default', {
      code: 'invalid_request',
      message: expect.stringMatching(/on server 'default' already/),
    });
    // A database of that name on the target already: refused, and left alone.
    await rowsIn(second.url, 'postgres', `create database "${tenant.databaseName}"`);
    await expectRefused(slug, 'eu-1', {
      code: 'invalid_request',
      message: expect.stringMatching(/has a database .* already/),
    });
    expect(await databaseExists(second.url, tenant.databaseName)).toBe(true);
    await rowsIn(second.url, 'postgres', `drop database "${tenant.databaseName}"`);
    // A target that cannot be reached: the move fails, the tenant stays and serves.
    await expect(tenants().move(slug, 'down-1')).rejects.toThrow();
    expect(await tenants().get(slug)).toEqual(before);
    const client = new OpenAI({ apiKey: secret, baseURL: `${gateways[1].url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'still here' }],
    });
    expect(await databaseExists(TEST_DATABASE_URL, tenant.databaseName)).toBe(true);
    // From the command line: a clear error.
    await expect(cli('move', slug, '--to', 'default')).rejects.toMatchObject({
      code: 'invalid_request',
    });
    // A tenant being deleted is not moved.
    await tenants().delete(slug);
    await expectRefusedDeleting(slug);
  }, 120_000);

  async function expectRefusedDeleting(slug: string) {
    const deleting = await tenants().get(slug);
    await expect(tenants().move(slug, 'eu-1')).rejects.toMatchObject({
      code: 'invalid_request',
      message: expect.stringMatching(/being deleted/),
    });
    expect(await tenants().get(slug)).toEqual(deleting);
    expect(await databaseExists(second.url, deleting.databaseName)).toBe(false);
  }
});

/** The kept old database of a test's tenant, dropped so the run leaves nothing behind. */
async function dropKept(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end();
  }
}
