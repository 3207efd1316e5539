import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { startGateway, type TestGateway, writeConfigFile } from '../helpers/gateway.js';
import { eventually, type PgStandbyPair, startPgStandby } from '../helpers/pg-standby.js';
import { TEST_DATABASE_URL } from '../helpers/services.js';
import type { TestServices } from '../helpers/tenant-services.js';

const CONFIG = {
  providers: { mock: { type: 'mock' } },
  models: [{ name: 'mock-chat', provider: 'mock' }],
};

/** The config file of a gateway whose `eu-1` has the standby as replica, with this bound. */
const withReplica = (maxLag: number) => ({
  ...CONFIG,
  database_servers: {
    'eu-1': {
      url_env: 'TEST_EU1_URL',
      replica_url_env: 'TEST_EU1_REPLICA_URL',
      max_replica_lag_seconds: maxLag,
    },
  },
});

/**
 * A real primary and its streaming standby, as `eu-1` and its replica, behind two gateways
 * over one control plane: `patient` tolerates an hour of lag, `strict` one second. Each
 * reaches the standby under its own application_name, so the standby shows whose reads it
 * serves.
 */
describe('tenant reads on a streaming replica', () => {
  let pair: PgStandbyPair;
  let patient: TestGateway;
  let strict: TestGateway;
  let tenantDatabase: string;
  let secret: string;

  const replicaUrl = (applicationName: string) => {
    const url = new URL(pair.standbyUrl);
    url.searchParams.set('application_name', applicationName);
    return url.toString();
  };
  const env = (applicationName: string) => ({
    DATABASE_URL: TEST_DATABASE_URL,
    TEST_EU1_URL: pair.primaryUrl,
    TEST_EU1_REPLICA_URL: replicaUrl(applicationName),
  });
  const admin = (gateway: TestGateway, path: string, body?: unknown) =>
    gateway.fetch(`/admin/v1${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        authorization: `Bearer ${gateway.adminKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const auditActions = async (gateway: TestGateway) => {
    const response = await admin(gateway, '/tenants/eu/audit-logs?limit=100');
    expect(response.status).toBe(200);
    const page = (await response.json()) as { data: { action: string; after: unknown }[] };
    return page.data.map((entry) => `${entry.action} ${JSON.stringify(entry.after)}`);
  };
  const usageRequests = async (gateway: TestGateway) => {
    const response = await admin(gateway, '/tenants/eu/usage');
    expect(response.status).toBe(200);
    return ((await response.json()) as { totals: { requests: number } }).totals.requests;
  };
  /** The databases `applicationName`'s connections are on, on the standby or the primary. */
  const connections = async (on: 'primary' | 'standby', applicationName: string) =>
    (
      await pair.query<{ datname: string }>(
        on,
        'select datname from pg_stat_activity where application_name = $1',
        [applicationName],
      )
    ).map((row) => row.datname);
  const metric = async (gateway: TestGateway, name: string) => {
    const text = await (await gateway.fetch('/metrics')).text();
    const line = text.split('\n').find((row) => row.startsWith(`${name}{server="eu-1"}`));
    return line === undefined ? null : Number(line.split(' ').pop());
  };

  beforeAll(async () => {
    pair = await startPgStandby();
    patient = await startGateway(withReplica(3600), env('llmb_patient'));
    strict = await startGateway(withReplica(1), env('llmb_strict'), { share: patient });
    // The usage writer, as `serve` runs it: usage lands on the tenant's primary.
    await (patient.services as TestServices).root.startBackground();
    const created = await admin(patient, '/tenants', { slug: 'eu', name: 'EU', server: 'eu-1' });
    expect(created.status).toBe(201);
    tenantDatabase = (await patient.services.tenants.get('eu')).databaseName;
    const key = await admin(patient, '/tenants/eu/api-keys', { name: 'first', role: 'owner' });
    expect(key.status).toBe(201);
    secret = ((await key.json()) as { secret: string }).secret;
  }, 120_000);
  afterAll(async () => {
    await strict?.close();
    await patient?.close();
    await pair?.stop();
  }, 60_000);

  it('reads audit listings and usage reports from the standby, never the primary', async () => {
    // The standby replays the tenant database's creation and the key a moment later.
    await eventually('the key on the standby', async () =>
      (await auditActions(patient)).some((entry) => entry.includes('"first"')),
    );
    expect(await usageRequests(patient)).toBe(0);
    expect(await connections('standby', 'llmb_patient')).toContain(tenantDatabase);
    expect(await connections('primary', 'llmb_patient')).toEqual([]);
    expect(await metric(patient, 'llm_backend_pg_replica_in_use')).toBe(1);
  }, 60_000);

  it('writes and reads its own writes on the primary while replay is paused; lagging reads go to the primary', async () => {
    await pair.query('standby', 'select pg_wal_replay_pause()');
    await eventually('replay paused', async () => {
      const [row] = await pair.query<{ state: string }>(
        'standby',
        'select pg_get_wal_replay_pause_state() as state',
      );
      return row?.state === 'paused';
    });
    const created = await admin(patient, '/tenants/eu/api-keys', {
      name: 'paused',
      role: 'member',
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    // Read-your-writes: the key is read back from the primary at once.
    const read = await admin(patient, `/tenants/eu/api-keys/${id}`);
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ id, name: 'paused' });
    // The data plane authenticates with the primary's keys and records usage there.
    const client = new OpenAI({ apiKey: secret, baseURL: `${patient.url}/v1`, maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: 'mock-chat',
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(completion.choices[0]?.message.content).toBeTruthy();
    await eventually('the usage record on the primary', async () => {
      const db = patient.services.tenants.database(await patient.services.tenants.get('eu'));
      const rows = await db.selectFrom('usage_records').select('id').execute();
      return rows.length === 1;
    });

    // Within an hour's bound the standby still serves: it has not seen the new rows.
    expect((await auditActions(patient)).some((entry) => entry.includes('"paused"'))).toBe(false);
    expect(await usageRequests(patient)).toBe(0);
    expect(await metric(patient, 'llm_backend_pg_replica_in_use')).toBe(1);

    // Beyond a one-second bound the reads go to the primary, which has them.
    await eventually('strict reads from the primary', async () => {
      return (await metric(strict, 'llm_backend_pg_replica_in_use')) === 0;
    });
    expect(await metric(strict, 'llm_backend_pg_replica_lag_seconds')).toBeGreaterThan(1);
    expect((await auditActions(strict)).some((entry) => entry.includes('"paused"'))).toBe(true);
    expect(await usageRequests(strict)).toBe(1);

    // Replay resumed: the standby catches up, and strict reads from it again.
    await pair.query('standby', 'select pg_wal_replay_resume()');
    await eventually('strict back on the standby', async () => {
      return (await metric(strict, 'llm_backend_pg_replica_in_use')) === 1;
    });
    // Its replica connections from before are cut; the next read must open a new one there.
    await pair.query(
      'standby',
      'select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and datname = $2',
      ['llmb_strict', tenantDatabase],
    );
    await eventually('a read served by the standby', async () => {
      const listed = await admin(strict, '/tenants/eu/audit-logs?limit=100');
      if (listed.status !== 200) return false;
      return (await connections('standby', 'llmb_strict')).includes(tenantDatabase);
    });
    expect(await usageRequests(strict)).toBe(1);
    expect(await usageRequests(patient)).toBe(1);
  }, 120_000);
});

describe('max_replica_lag_seconds', () => {
  it('refuses a bound that is negative, not a number, or without a replica', () => {
    const load = (entry: Record<string, unknown>) => () =>
      loadConfig({
        CONFIG_FILE: writeConfigFile({ ...CONFIG, database_servers: { 'eu-1': entry } }),
        DATABASE_URL: TEST_DATABASE_URL,
        EU_URL: TEST_DATABASE_URL,
      });
    const replica = { url_env: 'EU_URL', replica_url_env: 'EU_URL' };
    for (const bad of [-1, 'ten']) {
      expect(load({ ...replica, max_replica_lag_seconds: bad })).toThrow(ConfigError);
    }
    expect(load({ url_env: 'EU_URL', max_replica_lag_seconds: 5 })).toThrow(
      /max_replica_lag_seconds: needs replica_url_env/,
    );
    const config = loadConfig({
      CONFIG_FILE: writeConfigFile({ ...CONFIG, database_servers: { 'eu-1': replica } }),
      DATABASE_URL: TEST_DATABASE_URL,
      EU_URL: TEST_DATABASE_URL,
    });
    expect(config.databaseServers[0]?.maxReplicaLagSeconds).toBe(10);
  });
});
