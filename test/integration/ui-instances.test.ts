import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStore } from '../../src/services/sessions/redis-store.js';
import { openRedis, type RedisConnections } from '../../src/storage/redis.js';
import { eventually, startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { panelFetch, signIn } from '../helpers/panel.js';
import { redisBus, TEST_REDIS } from '../helpers/services.js';

/**
 * Two gateways sharing PostgreSQL and Redis (sessions and the invalidation bus), each with
 * its own key cache: a session opened on one works on the other, and a revocation or a
 * disabled tenant ends it on both.
 */
let a: TestGateway;
let b: TestGateway;
const connections: RedisConnections[] = [];

async function shared() {
  const redis = openRedis(`redis://${TEST_REDIS.host}:${TEST_REDIS.port}`);
  connections.push(redis);
  return { bus: await redisBus(), sessions: new RedisSessionStore(redis.command) };
}

beforeAll(async () => {
  const config = upstreamConfig('http://127.0.0.1:9');
  a = await startGateway(config, {}, { services: await shared() });
  b = await startGateway(config, {}, { services: await shared(), share: a });
}, 90_000);
afterAll(async () => {
  await b?.close();
  await a?.close();
  for (const redis of connections) await redis.close();
}, 180_000);

const sessionStatus = (gateway: TestGateway, id: string) =>
  panelFetch(gateway.url, '/admin/v1/tenants/test/users', { session: id }).then((r) => r.status);

describe('sessions across instances', () => {
  it('opened on one instance, serve and sign out on the other', async () => {
    const { id, session } = await signIn(a.url, a.apiKey);
    expect(await sessionStatus(b, id)).toBe(200);
    const out = await panelFetch(b.url, '/ui/api/session', {
      method: 'DELETE',
      session: id,
      csrf: session.csrf_token,
    });
    expect(out.status).toBe(204);
    expect(await sessionStatus(a, id)).toBe(401);
  });

  it('end on every instance when their key is revoked', async () => {
    const { key, secret } = await a.services.keys.create('test', { name: 'rev', role: 'admin' });
    const { id } = await signIn(a.url, secret);
    // Both instances have the key's resolution cached now.
    expect(await sessionStatus(a, id)).toBe(200);
    expect(await sessionStatus(b, id)).toBe(200);
    const revoke = await panelFetch(a.url, `/admin/v1/tenants/test/api-keys/${key.id}`, {
      method: 'DELETE',
      authorization: `Bearer ${a.apiKey}`,
    });
    expect(revoke.status).toBe(200);
    await eventually(async () => expect(await sessionStatus(b, id)).toBe(401));
    expect(await sessionStatus(a, id)).toBe(401);
  });

  it('end on every instance when their tenant is disabled on one', async () => {
    const slug = `multi-${Date.now().toString(36)}`;
    await a.services.tenants.create({ slug, name: 'Multi' });
    const { secret } = await a.services.keys.create(slug, { name: 'o', role: 'owner' });
    const { id } = await signIn(b.url, secret);
    const users = () =>
      panelFetch(a.url, `/admin/v1/tenants/${slug}/users`, { session: id }).then((r) => r.status);
    expect(await users()).toBe(200);
    const disable = await panelFetch(b.url, `/admin/v1/tenants/${slug}`, {
      method: 'PATCH',
      authorization: `Bearer ${b.adminKey}`,
      body: { status: 'disabled' },
    });
    expect(disable.status).toBe(200);
    await eventually(async () => expect(await users()).toBe(401));
    await b.services.tenants.setStatus(slug, 'active');
    expect(await users()).toBe(401);
  });
});
