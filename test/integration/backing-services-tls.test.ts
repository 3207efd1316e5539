import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../../src/domain/key-format.js';
import { issueCertificate, makeTestCa, type TestCa } from '../helpers/certificates.js';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import { eventually, upstreamConfig, writeConfigFile } from '../helpers/gateway.js';
import { type ChildRole, startRole } from '../helpers/gateway-process.js';
import { TEST_MASTER_KEY } from '../helpers/tenant-services.js';
import { startTlsPostgres, startTlsRedis, type TlsServer } from '../helpers/tls-servers.js';

/**
 * A gateway whose PostgreSQL and Redis only speak TLS, with certificates from a CA of the
 * test's own: the PostgreSQL server rejects every connection without TLS and the Redis has
 * no plain port, so anything that works below went over TLS, checked against that CA.
 */
describe('PostgreSQL and Redis over TLS', () => {
  const upstream = new FakeUpstream();
  const children = new Set<ChildProcess>();
  const adminKey = generateApiKey();
  let ca: TestCa;
  let postgres: TlsServer;
  let redisServer: TlsServer;
  let gateway: ChildRole & { url: string };
  let databaseUrl: string;
  let redis: Redis;

  const admin = async (path: string, body: unknown) => {
    const response = await fetch(`${gateway.url}/admin/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    await upstream.start();
    upstream.always((_req, res) => json(res, 200, chatCompletion('through tls backends')));
    ca = makeTestCa();
    const cert = issueCertificate(ca, 'backends');
    [postgres, redisServer] = await Promise.all([startTlsPostgres(cert), startTlsRedis(ca, cert)]);
    databaseUrl = `postgres://postgres@127.0.0.1:${postgres.port}/postgres?sslmode=verify-full&sslrootcert=${ca.certFile}`;
    redis = new Redis(`rediss://127.0.0.1:${redisServer.port}`, { tls: { ca: ca.pem } });
    const env = {
      DATABASE_URL: databaseUrl,
      REDIS_URL: `rediss://127.0.0.1:${redisServer.port}`,
      REDIS_TLS_CA_FILE: ca.certFile,
      BOOTSTRAP_ADMIN_KEY: adminKey,
      MASTER_KEY: TEST_MASTER_KEY,
      CONFIG_FILE: writeConfigFile(upstreamConfig(upstream.url)),
      TEST_UPSTREAM_KEY: 'unused',
      PORT: '0',
      // Usage is written by a separate `llm-backend worker`, which goes through both too.
      USAGE_WORKERS: '0',
    };
    gateway = await startRole('serve', env, children);
    await startRole('worker', env, children);
  }, 90_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    redis?.disconnect();
    await postgres?.stop();
    await redisServer?.stop();
    await upstream.stop();
  }, 30_000);

  it('refuses connections without TLS, so the gateway cannot have used one', async () => {
    const plain = new pg.Client({
      connectionString: `postgres://postgres@127.0.0.1:${postgres.port}/postgres?sslmode=disable`,
    });
    await expect(plain.connect()).rejects.toThrow(/no encryption/);
    await plain.end().catch(() => {});
  });

  it('creates a tenant, answers a chat request and writes its usage', async () => {
    const tenant = await admin('/tenants', { slug: 'acme', name: 'Acme' });
    expect(tenant.status).toBe(201);
    const key = await admin('/tenants/acme/api-keys', { name: 'app', role: 'owner' });
    expect(key.status).toBe(201);
    const client = new OpenAI({
      apiKey: String(key.body.secret),
      baseURL: `${gateway.url}/v1`,
      maxRetries: 0,
    });
    const completion = await client.chat.completions.create(
      { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'x-request-id': 'req-over-tls' } },
    );
    expect(completion.choices[0]?.message.content).toBe('through tls backends');

    // The usage event went through the Redis Stream and the worker wrote it to the tenant's
    // own database, both over TLS.
    const control = new pg.Client({ connectionString: databaseUrl });
    await control.connect();
    try {
      const { rows } = await control.query<{ database_name: string }>(
        'select database_name from tenants where slug = $1',
        ['acme'],
      );
      const tenantUrl = new URL(databaseUrl);
      tenantUrl.pathname = `/${rows[0]?.database_name}`;
      const records = await eventually(async () => {
        const tenantDb = new pg.Client({ connectionString: tenantUrl.toString() });
        await tenantDb.connect();
        try {
          const result = await tenantDb.query<{ input_tokens: string; output_tokens: string }>(
            'select input_tokens, output_tokens from usage_records where request_id = $1',
            ['req-over-tls'],
          );
          expect(result.rows).toHaveLength(1);
          return result.rows;
        } finally {
          await tenantDb.end();
        }
      }, 15_000);
      // The fake upstream's usage: 9 prompt tokens, 4 completion tokens.
      expect(records.map((row) => [Number(row.input_tokens), Number(row.output_tokens)])).toEqual([
        [9, 4],
      ]);
      const { rows: plainSessions } = await control.query(
        "select a.pid from pg_stat_activity a join pg_stat_ssl s using (pid) where a.backend_type = 'client backend' and not s.ssl",
      );
      expect(plainSessions).toEqual([]);
    } finally {
      await control.end();
    }
    expect(await redis.keys('*usage*')).not.toEqual([]);
  });
});
