import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditJson } from '../helpers/audit.js';
import { startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { browse, CookieJar, startOidcProvider } from '../helpers/oidc-provider.js';
import { panelFetch, SESSION_COOKIE, type SessionJson, sessionCookieOf } from '../helpers/panel.js';
import { freePort } from '../helpers/ports.js';

/** Single sign-on end to end: the gateway, a real OpenID Connect provider, a fetch "browser". */
const suffix = Date.now().toString(36);
const existing = `sso-a-${suffix}`;
const creating = `sso-b-${suffix}`;
let gateway: TestGateway;
let provider: Awaited<ReturnType<typeof startOidcProvider>>;
let base: string;
let aliceId: string;

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const callback = (tenant: string) => `${base}/ui/api/oidc/${tenant}/callback`;
  provider = await startOidcProvider({
    clientId: 'llm-backend',
    clientSecret: 'test-client-secret-0123456789abcdef',
    redirectUris: [callback(existing), callback(creating)],
    accounts: {
      alice: { email: 'Alice@Example.com', name: 'Alice' },
      mallory: { email: 'mallory@example.com' },
      unverified: { email: 'bob@example.com', emailVerified: false },
      victor: { email: 'victor@example.com', groups: ['staff', 'llm-viewers'] },
      nobody: { email: 'nobody@example.com', groups: ['staff'] },
    },
  });
  const entry = (tenant: string, extra: Record<string, unknown> = {}) => ({
    tenant,
    issuer: provider.issuer,
    client_id: 'llm-backend',
    client_secret_env: 'TEST_OIDC_SECRET',
    redirect_uri: callback(tenant),
    ...extra,
  });
  gateway = await startGateway(
    {
      ...upstreamConfig('http://127.0.0.1:9'),
      oidc: [
        entry(existing),
        entry(creating, {
          scopes: 'openid email profile groups',
          role_claim: 'groups',
          role_mapping: { 'llm-viewers': 'viewer', 'llm-admins': 'admin' },
          create_users: true,
        }),
      ],
    },
    { TEST_OIDC_SECRET: 'test-client-secret-0123456789abcdef' },
    { port },
  );
  const { services } = gateway;
  await services.tenants.create({ slug: existing, name: 'SSO A' });
  await services.tenants.create({ slug: creating, name: 'SSO B' });
  aliceId = (
    await services.users.create(existing, { email: 'alice@example.com', name: 'A', role: 'admin' })
  ).id;
  await services.users.create(creating, {
    email: 'bob@example.com',
    name: 'Bob',
    role: 'owner',
  });
}, 60_000);
// Generous: dropping the test databases waits for the server's checkpoints.
afterAll(async () => {
  await gateway?.close();
  await provider?.close();
}, 180_000);

/** Signs in through the provider as `login`: the session id, or the gateway's refusal. */
async function sso(tenant: string, login: string, jar = new CookieJar()) {
  const { response, url } = await browse(
    `${base}/ui/api/oidc/${tenant}/login`,
    jar,
    login,
    `${base}/ui/`,
  );
  return { response, url, session: jar.get(SESSION_COOKIE) };
}

const readSession = async (id: string) => {
  const response = await panelFetch(base, '/ui/api/session', { session: id });
  expect(response.status).toBe(200);
  return (await response.json()) as SessionJson;
};

describe('single sign-on with OpenID Connect', () => {
  it('lists the tenants that have it for the sign-in page', async () => {
    const config = await panelFetch(base, '/ui/api/oidc/config');
    expect(await config.json()).toEqual({
      providers: [
        { tenant: existing, login_url: `/ui/api/oidc/${existing}/login` },
        { tenant: creating, login_url: `/ui/api/oidc/${creating}/login` },
      ],
    });
  });

  it("signs an existing user in by email, with the user's role, audited as the user", async () => {
    const login = await panelFetch(base, `/ui/api/oidc/${existing}/login`);
    const to = new URL(login.headers.get('location') ?? '');
    expect(to.origin).toBe(provider.issuer);
    expect(to.searchParams.get('code_challenge_method')).toBe('S256');
    expect(to.searchParams.get('state')).toBeTruthy();
    expect(to.searchParams.get('nonce')).toBeTruthy();

    const { url, session } = await sso(existing, 'alice');
    expect(url).toBe(`${base}/ui/`);
    expect(session).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const id = session ?? '';
    const json = await readSession(id);
    const tenant = await gateway.services.tenants.get(existing);
    expect(json.principal).toEqual({
      kind: 'tenant',
      tenant_id: tenant.id,
      tenant_name: 'SSO A',
      role: 'admin',
      user_id: aliceId,
    });
    expect(json.key_id).toBeNull();
    const write = await panelFetch(base, `/admin/v1/tenants/${existing}/users`, {
      method: 'POST',
      session: id,
      csrf: json.csrf_token,
      body: { email: `made-by-alice-${suffix}@example.com`, name: 'M', role: 'viewer' },
    });
    expect(write.status).toBe(201);
    const entries = await auditJson(gateway.services, existing, { limit: 10 });
    expect(entries.find((entry) => entry.action === 'session.sign_in')).toMatchObject({
      actor_type: 'user',
      actor_id: aliceId,
      after: { method: 'oidc' },
    });
    expect(entries.find((entry) => entry.action === 'user.create')).toMatchObject({
      actor_type: 'user',
      actor_id: aliceId,
    });
    // Another tenant stays out of reach.
    const other = await panelFetch(base, `/admin/v1/tenants/${creating}/users`, { session: id });
    expect(other.status).toBe(403);
  });

  it('ends the session when the user is disabled', async () => {
    const { session } = await sso(existing, 'alice');
    const id = session ?? '';
    await readSession(id);
    await gateway.services.users.setStatus(existing, aliceId, 'disabled');
    try {
      const after = await panelFetch(base, '/ui/api/session', { session: id });
      expect(after.status).toBe(401);
    } finally {
      await gateway.services.users.setStatus(existing, aliceId, 'active');
    }
  });

  it('refuses an email no user has, and an unverified one, without a session', async () => {
    for (const [tenant, login] of [
      [existing, 'mallory'],
      [creating, 'unverified'],
      [creating, 'nobody'],
    ] as const) {
      const { response, session } = await sso(tenant, login);
      expect(session, login).toBeUndefined();
      expect(response.status, login).toBe(401);
      const body = (await response.json()) as { error: { code: string } };
      expect(body.error.code).toBe('oidc_login_failed');
    }
    const users = await gateway.services.users.list(creating);
    expect(users.map((user) => user.email)).toEqual(['bob@example.com']);
  });

  it('makes a user with the mapped role where the config allows it', async () => {
    const { session } = await sso(creating, 'victor');
    const json = await readSession(session ?? '');
    expect(json.principal).toMatchObject({ kind: 'tenant', role: 'viewer' });
    const users = await gateway.services.users.list(creating);
    expect(users.find((user) => user.email === 'victor@example.com')?.role).toBe('viewer');
    const write = await panelFetch(base, `/admin/v1/tenants/${creating}/users`, {
      method: 'POST',
      session: session ?? '',
      csrf: json.csrf_token,
      body: { email: 'viewer-sso@example.com', name: 'V', role: 'viewer' },
    });
    expect(write.status).toBe(403);
  });

  it('completes only in the browser that started the sign-in', async () => {
    // Someone signs in as themselves and hands the callback link to another browser.
    const theirs = new CookieJar();
    const { url } = await browse(`${base}/ui/api/oidc/${existing}/login`, theirs, 'alice', (next) =>
      next.startsWith(`${base}/ui/api/oidc/${existing}/callback?`),
    );
    const victim = await fetch(url, { redirect: 'manual' });
    expect(victim.status).toBe(401);
    expect(sessionCookieOf(victim)).toBeNull();
    // The state is used up by the attempt: the link is worth nothing afterwards either.
    const again = await fetch(url, { redirect: 'manual', headers: { cookie: theirs.header() } });
    expect(again.status).toBe(401);
  });

  it('answers unknown tenants, forged callbacks and bad paths with errors', async () => {
    const unknown = await panelFetch(base, '/ui/api/oidc/no-such-tenant/login');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe(
      'oidc_provider_not_found',
    );
    for (const query of ['', '?code=abc&state=forged', '?error=access_denied&state=x']) {
      const forged = await panelFetch(base, `/ui/api/oidc/${existing}/callback${query}`);
      expect(forged.status, query).toBe(401);
      expect(sessionCookieOf(forged)).toBeNull();
    }
    const long = await panelFetch(base, `/ui/api/oidc/${'x'.repeat(80)}/login`);
    expect(long.status).toBe(400);
  });
});
