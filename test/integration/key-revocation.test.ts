import type { FastifyInstance } from 'fastify';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { createBackend, type TestBackend } from '../helpers/databases.js';
import { eventually, writeConfigFile } from '../helpers/gateway.js';
import { redisBus } from '../helpers/services.js';
import { composeForTest, type TestServices } from '../helpers/tenant-services.js';

interface Instance {
  app: FastifyInstance;
  url: string;
  services: TestServices;
  close(): Promise<void>;
}

let backend: TestBackend;
let a: Instance;
let b: Instance;

/** A gateway instance of its own (own pools, own key cache, own Redis connections). */
async function instance(): Promise<Instance> {
  const config = loadConfig({
    CONFIG_FILE: writeConfigFile({
      providers: { mock: { type: 'mock' } },
      models: [{ name: 'mock-chat', provider: 'mock' }],
    }),
  });
  const services = await composeForTest('postgres', {
    backend,
    bus: await redisBus(),
    config,
    role: 'serve',
  });
  const app = await buildApp(services.root);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    app,
    url,
    services,
    // Closing the app closes its root.
    close: () => app.close(),
  };
}

const callWith = (target: Instance, key: string) =>
  new OpenAI({ apiKey: key, baseURL: `${target.url}/v1`, maxRetries: 0 }).models.list().then(
    () => 200,
    (error: unknown) => (error instanceof OpenAI.APIError ? (error.status ?? 0) : -1),
  );

beforeAll(async () => {
  backend = await createBackend('postgres');
  a = await instance();
  b = await instance();
  await a.services.tenants.create({ slug: 'acme', name: 'Acme' });
}, 60_000);
afterAll(async () => {
  await a?.close();
  await b?.close();
  await backend?.destroy();
}, 60_000);

describe('key changes reach every instance', () => {
  it('serves a warm key from memory: a change made behind its back is not seen', async () => {
    const { key, secret } = await a.services.keys.create('acme', {
      name: 'cached',
      role: 'member',
    });
    expect(await callWith(b, secret)).toBe(200);
    // Revoked straight in the database, without announcing it: B must not look.
    const acme = await a.services.tenants.get('acme');
    await a.services.tenants
      .database(acme)
      .updateTable('api_keys')
      .set({ revoked_at: new Date() })
      .where('id', '=', key.id)
      .execute();
    expect(await callWith(b, secret)).toBe(200);
  });

  it('a revocation on one instance is refused by another within a second', async () => {
    const { key, secret } = await a.services.keys.create('acme', {
      name: 'doomed',
      role: 'member',
    });
    expect(await callWith(b, secret)).toBe(200);
    await a.services.keys.revoke('acme', key.id);
    // The cache would keep the key for a minute; only the announcement can be this fast.
    await eventually(async () => expect(await callWith(b, secret)).toBe(401), 1000);
  });

  it('a platform key revoked over the admin API on one instance is refused by another', async () => {
    const admin = await a.services.platformKeys.create({ name: 'operator' });
    const adminCall = (target: Instance, key: string, path: string, method = 'GET') =>
      fetch(`${target.url}/admin/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${key}` },
      });
    const made = await a.services.platformKeys.create({ name: 'doomed-platform' });
    expect((await adminCall(b, made.secret, '/tenants')).status).toBe(200);
    const revoked = await adminCall(a, admin.secret, `/platform-keys/${made.key.id}`, 'DELETE');
    expect(revoked.status).toBe(200);
    // B's cache would keep the key for a minute; only the announcement ends it sooner.
    await eventually(
      async () => expect((await adminCall(b, made.secret, '/tenants')).status).toBe(401),
      10_000,
    );
  });

  it("disabling a tenant reaches another instance's cache within a second", async () => {
    const { secret } = await a.services.keys.create('acme', { name: 'paused', role: 'member' });
    expect(await callWith(b, secret)).toBe(200);
    await a.services.tenants.setStatus('acme', 'disabled');
    await eventually(async () => expect(await callWith(b, secret)).toBe(403), 1000);
    await a.services.tenants.setStatus('acme', 'active');
    await eventually(async () => expect(await callWith(b, secret)).toBe(200), 1000);
  });
});
