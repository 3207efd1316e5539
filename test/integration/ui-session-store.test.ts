import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { CachingAuthenticator } from '../../src/services/keys/authenticator.js';
import { RedisSessionStore } from '../../src/services/sessions/redis-store.js';
import { AuditedSessions } from '../../src/services/sessions/session-audit.js';
import { SessionService } from '../../src/services/sessions/session-service.js';
import { MemorySessionStore, type SessionStore } from '../../src/services/sessions/store.js';
import { openRedis, type RedisConnections } from '../../src/storage/redis.js';
import { eventually } from '../helpers/gateway.js';
import { sharedCluster, testClusterUrl } from '../helpers/redis-cluster.js';
import { TEST_REDIS } from '../helpers/services.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

const IDLE_SECONDS = 60;
const MAX_AGE_SECONDS = 150;

let services: TestServices;
let redis: RedisConnections;
let cluster: RedisConnections;

// The Redis cases run on a real Redis Cluster as well: keys of one command in two slots fail.
sharedCluster();

beforeAll(async () => {
  services = await servicesOn('postgres');
  redis = openRedis(`redis://${TEST_REDIS.host}:${TEST_REDIS.port}`);
  cluster = openRedis(testClusterUrl());
}, 60_000);
afterAll(async () => {
  await redis?.close();
  await cluster?.close();
  await services?.close();
}, 180_000);

const stores: [string, () => SessionStore][] = [
  ['in-process', () => new MemorySessionStore()],
  ['Redis', () => new RedisSessionStore(redis.command)],
  ['Redis Cluster', () => new RedisSessionStore(cluster.command)],
];

/** The same cases against both stores; the clock is the test's, moved by hand. */
describe.each(stores)('sessions in the %s store', (kind, makeStore) => {
  let store: SessionStore;
  let sessions: SessionService;
  let now = Date.now();
  const tenant = `sess-${kind === 'in-process' ? 'm' : kind === 'Redis' ? 'r' : 'c'}-${Date.now().toString(36)}`;
  let ownerKey: string;
  const context = { ip: '127.0.0.1' };

  beforeAll(async () => {
    store = makeStore();
    sessions = new SessionService({
      store,
      keys: new CachingAuthenticator(services.keys, services.bus),
      keyIndex: services.keys,
      bus: services.bus,
      audit: new AuditedSessions({ tenants: services.tenants, control: services.backend.control }),
      idleSeconds: IDLE_SECONDS,
      maxAgeSeconds: MAX_AGE_SECONDS,
      now: () => now,
    });
    await services.tenants.create({ slug: tenant, name: 'Sessions' });
    ownerKey = (await services.keys.create(tenant, { name: 'owner', role: 'owner' })).secret;
  });

  it('gives a 256-bit random id and keeps only its hash', async () => {
    const { id, session } = await sessions.signInWithKey(ownerKey, context);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(32);
    expect(session.idHash).not.toContain(id);
    expect(await store.get(id)).toBeNull();
    expect(await store.get(session.idHash)).not.toBeNull();
    if (kind === 'Redis') expect(await redis.command.keys(`*${id}*`)).toEqual([]);
    const resumed = await sessions.resume(id);
    expect(resumed?.principal).toMatchObject({ kind: 'tenant', role: 'owner' });
  });

  it('ends a session left idle, and keeps one in use until its absolute end', async () => {
    const idle = await sessions.signInWithKey(ownerKey, context);
    const used = await sessions.signInWithKey(ownerKey, context);
    for (let step = 0; step < 2; step++) {
      now += (IDLE_SECONDS - 10) * 1000;
      expect(await sessions.resume(used.id)).not.toBeNull();
    }
    // 100 s in: past the idle timeout for the one unused.
    expect(await sessions.resume(idle.id)).toBeNull();
    expect(await store.get(idle.session.idHash)).toBeNull();
    now += (IDLE_SECONDS - 10) * 1000;
    // 150 s in: the absolute end, however recently it was used.
    expect(await sessions.resume(used.id)).toBeNull();
  });

  it('compares the CSRF token in full', async () => {
    const { session } = await sessions.signInWithKey(ownerKey, context);
    const token = session.record.csrfToken;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sessions.csrfMatches(session, token)).toBe(true);
    expect(sessions.csrfMatches(session, undefined)).toBe(false);
    expect(sessions.csrfMatches(session, '')).toBe(false);
    expect(sessions.csrfMatches(session, token.slice(0, -1))).toBe(false);
    expect(sessions.csrfMatches(session, `${token}x`)).toBe(false);
  });

  it('ends the session the browser held when it signs in again', async () => {
    const first = await sessions.signInWithKey(ownerKey, context);
    const second = await sessions.signInWithKey(ownerKey, context, first.id);
    expect(second.id).not.toBe(first.id);
    expect(await sessions.resume(first.id)).toBeNull();
    expect(await sessions.resume(second.id)).not.toBeNull();
  });

  it('ends every session of a revoked key, without waiting for its next use', async () => {
    const { key, secret } = await services.keys.create(tenant, { name: 'rev', role: 'admin' });
    const a = await sessions.signInWithKey(secret, context);
    const b = await sessions.signInWithKey(secret, context);
    const other = await sessions.signInWithKey(ownerKey, context);
    await services.keys.revoke(tenant, key.id);
    await eventually(async () => {
      expect(await store.get(a.session.idHash)).toBeNull();
      expect(await store.get(b.session.idHash)).toBeNull();
    });
    expect(await sessions.resume(a.id)).toBeNull();
    expect(await sessions.resume(other.id)).not.toBeNull();
  });

  it('ends the sessions of a disabled tenant for good, even once it is enabled again', async () => {
    const slug = `${tenant}-d`;
    await services.tenants.create({ slug, name: 'Disabled' });
    const { secret } = await services.keys.create(slug, { name: 'o', role: 'owner' });
    const { id, session } = await sessions.signInWithKey(secret, context);
    await services.tenants.setStatus(slug, 'disabled');
    await eventually(async () => expect(await store.get(session.idHash)).toBeNull());
    await services.tenants.setStatus(slug, 'active');
    expect(await sessions.resume(id)).toBeNull();
  });

  it('ends the sessions of a deleted tenant', async () => {
    const slug = `${tenant}-x`;
    await services.tenants.create({ slug, name: 'Deleted' });
    const { secret } = await services.keys.create(slug, { name: 'o', role: 'owner' });
    const { id, session } = await sessions.signInWithKey(secret, context);
    await services.tenants.delete(slug);
    await eventually(async () => expect(await store.get(session.idHash)).toBeNull());
    expect(await sessions.resume(id)).toBeNull();
  });

  it('hands a pending sign-in out once, and not after its lifetime', async () => {
    const key = `pending-${kind}-${Date.now()}`;
    await store.putPending(key, '{"tenant":"acme"}', 60_000);
    expect(await store.takePending(key)).toBe('{"tenant":"acme"}');
    expect(await store.takePending(key)).toBeNull();
    await store.putPending(`${key}-short`, 'x', 1);
    await eventually(async () => expect(await store.takePending(`${key}-short`)).toBeNull());
  });

  it('refuses a key whose role may not use the panel, and unknown or malformed keys', async () => {
    const { secret } = await services.keys.create(tenant, { name: 'm', role: 'member' });
    const refusal = (promise: Promise<unknown>) =>
      promise.then(
        () => 'signed in',
        (error: unknown) => (error instanceof GatewayError ? error.code : String(error)),
      );
    expect(await refusal(sessions.signInWithKey(secret, context))).toBe('permission_denied');
    expect(await refusal(sessions.signInWithKey('llmb_nonsense', context))).toBe('invalid_api_key');
    expect(await sessions.resume('not-a-session-id')).toBeNull();
    expect(await sessions.resume('A'.repeat(43))).toBeNull();
  });
});
