import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { type RunningWorkers, startUsageWorkers } from '../../src/services/usage/usage-workers.js';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { TEST_DATABASE_URL } from '../helpers/services.js';
import type { TestServices } from '../helpers/tenant-services.js';
import { openQueue } from '../helpers/usage-queues.js';

const quiet = { warn: () => {}, error: () => {} };
const CAP = 3;
const PER_POOL = 2;
const TENANTS = 8;

/** Connections the server has open to any of `databases` right now. */
async function serverConnections(databases: string[]): Promise<number> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where datname = any($1)',
      [databases],
    );
    return rows[0]?.n ?? 0;
  } finally {
    await client.end();
  }
}

describe('the cap on tenant pools', () => {
  const upstream = new FakeUpstream();
  let gateway: TestGateway;
  let workers: RunningWorkers;

  beforeAll(async () => {
    await upstream.start();
    upstream.always((_req, res) => json(res, 200, chatCompletion('pooled')));
    const queue = openQueue('memory');
    gateway = await startGateway(
      upstreamConfig(upstream.url),
      {},
      { services: { usageQueue: queue, tenantPools: { maxOpen: CAP, connections: PER_POOL } } },
    );
    workers = startUsageWorkers({
      queue,
      records: gateway.services.usageRecords,
      count: 2,
      log: quiet,
    });
  }, 60_000);
  afterAll(async () => {
    await workers?.stop();
    await gateway?.close();
    await upstream.stop();
  }, 60_000);

  it('reads TENANT_POOLS_MAX and TENANT_POOL_CONNECTIONS, and refuses bad values', () => {
    const env = loadConfig({ TENANT_POOLS_MAX: '50', TENANT_POOL_CONNECTIONS: '3' }).env;
    expect(env).toMatchObject({ tenantPoolsMax: 50, tenantPoolConnections: 3 });
    expect(loadConfig({}).env).toMatchObject({ tenantPoolsMax: null, tenantPoolConnections: 5 });
    expect(() => loadConfig({ TENANT_POOLS_MAX: '0' })).toThrow(/TENANT_POOLS_MAX must be/);
    expect(() => loadConfig({ TENANT_POOL_CONNECTIONS: 'x' })).toThrow(
      /TENANT_POOL_CONNECTIONS must be/,
    );
  });

  it('serves traffic over more tenants than the cap, under it, evicting without breaking requests', async () => {
    const { services } = gateway;
    const connections = (services as TestServices).connections;
    const tag = randomBytes(3).toString('hex');
    const tenants = [];
    for (let i = 0; i < TENANTS; i++) {
      const slug = `pools-${tag}-${i}`;
      const tenant = await services.tenants.create({ slug, name: slug });
      const { secret } = await services.keys.create(slug, { name: 'k', role: 'owner' });
      tenants.push({
        tenant,
        client: new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 }),
      });
    }
    const databases = tenants.map(({ tenant }) => tenant.databaseName);
    const evictedBefore = connections.evictions;
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        expect(connections.size).toBeLessThanOrEqual(CAP);
        samples++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const answered = new Map<string, number>();
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        tenants.map(async ({ tenant, client }) => {
          await client.chat.completions.create({
            model: 'gpt-test',
            messages: [{ role: 'user', content: `round ${round}` }],
          });
          answered.set(tenant.id, (answered.get(tenant.id) ?? 0) + 1);
        }),
      );
    }
    // Every tenant's usage reached its own database, through pools opened and closed in turn.
    for (const { tenant } of tenants) {
      await eventually(async () => {
        const rows = await services.tenants
          .database(tenant)
          .selectFrom('usage_records')
          .select('id')
          .execute();
        expect(rows).toHaveLength(answered.get(tenant.id) ?? -1);
      }, 30_000);
    }
    sampling = false;
    await sampler;
    // The cap was what made room: pools were closed while requests and writes went on.
    expect(connections.evictions - evictedBefore).toBeGreaterThan(0);
    expect(samples).toBeGreaterThan(0);
    // Closed pools let their connections go once their queries ended: on the server, the
    // tenants' connections come back under the cap times the connections per pool.
    await eventually(
      async () => expect(await serverConnections(databases)).toBeLessThanOrEqual(CAP * PER_POOL),
      30_000,
    );
  }, 180_000);
});
