import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditJson } from '../helpers/audit.js';
import { startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { panelFetch, type SessionJson, sessionCookieOf, signIn } from '../helpers/panel.js';

/** The admin panel's sessions on one gateway (in-process store), signed in with API keys. */
let gateway: TestGateway;
let base: string;
/** What the gateway's clock is ahead of the real one: the expiry tests move it. */
let ahead = 0;
const keys: Record<'viewer' | 'member' | 'admin', string> = { viewer: '', member: '', admin: '' };

beforeAll(async () => {
  gateway = await startGateway(
    upstreamConfig('http://127.0.0.1:9'),
    { SESSION_IDLE_TIMEOUT_SECONDS: '60', SESSION_MAX_AGE_SECONDS: '150' },
    { services: { clock: () => new Date(Date.now() + ahead) } },
  );
  base = gateway.url;
  for (const role of ['viewer', 'member', 'admin'] as const)
    keys[role] = (await gateway.services.keys.create('test', { name: role, role })).secret;
}, 60_000);
afterAll(async () => {
  await gateway?.close();
}, 180_000);

const errorCode = async (response: Response) =>
  ((await response.json()) as { error?: { code?: string } }).error?.code;

describe('signing in with an API key', () => {
  it('opens a session the admin API and the model list take as the key', async () => {
    const { id, session, response } = await signIn(base, gateway.apiKey);
    const owner = await gateway.services.tenants.get('test');
    expect(session).toEqual({
      principal: {
        kind: 'tenant',
        tenant_id: owner.id,
        tenant_name: 'Test',
        role: 'owner',
        user_id: null,
      },
      key_id: expect.stringMatching(/^key_/),
      csrf_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      expires_at: expect.any(String),
      idle_timeout_seconds: 60,
    } satisfies Record<keyof SessionJson, unknown>);
    expect(sessionCookieOf(response)?.attributes.sort()).toEqual([
      'httponly',
      'path=/',
      'samesite=strict',
    ]);
    const again = await panelFetch(base, '/ui/api/session', { session: id });
    expect(await again.json()).toEqual(session);
    expect((await panelFetch(base, '/admin/v1/tenants/test/users', { session: id })).status).toBe(
      200,
    );
    const models = await panelFetch(base, '/v1/models', { session: id });
    expect(models.status).toBe(200);
    // The data plane's other calls still want a key.
    const chat = await panelFetch(base, '/v1/chat/completions', {
      method: 'POST',
      session: id,
      csrf: session.csrf_token,
      body: { model: 'gpt-test', messages: [] },
    });
    expect(chat.status).toBe(401);
  });

  it('signs out with the CSRF token only, and audits both ends without the key', async () => {
    const { id, session } = await signIn(base, keys.admin);
    const forged = await panelFetch(base, '/ui/api/session', { method: 'DELETE', session: id });
    expect([forged.status, await errorCode(forged)]).toEqual([403, 'csrf_token_invalid']);
    const out = await panelFetch(base, '/ui/api/session', {
      method: 'DELETE',
      session: id,
      csrf: session.csrf_token,
    });
    expect(out.status).toBe(204);
    expect(sessionCookieOf(out)?.value).toBe('');
    const after = await panelFetch(base, '/ui/api/session', { session: id });
    expect([after.status, await errorCode(after)]).toEqual([401, 'session_expired']);
    const entries = await auditJson(gateway.services, 'test', { limit: 20 });
    const mine = entries.filter((entry) => entry.actor_id === session.key_id);
    expect(mine.map((entry) => entry.action)).toEqual(
      expect.arrayContaining(['session.sign_in', 'session.sign_out']),
    );
    expect(JSON.stringify(entries)).not.toContain(keys.admin);
    expect(JSON.stringify(gateway.logs)).not.toContain(keys.admin);
  });

  it('never adopts a session id the browser brings, and ends the session it names', async () => {
    const planted = await signIn(base, keys.viewer);
    const fresh = await signIn(base, gateway.apiKey, { session: planted.id });
    expect(fresh.id).not.toBe(planted.id);
    expect((await panelFetch(base, '/ui/api/session', { session: planted.id })).status).toBe(401);
    const madeUp = 'A'.repeat(43);
    const other = await signIn(base, gateway.apiKey, { session: madeUp });
    expect(other.id).not.toBe(madeUp);
    expect((await panelFetch(base, '/ui/api/session', { session: madeUp })).status).toBe(401);
  });

  it('takes a platform admin key, whose session alone lists the deployments', async () => {
    const platform = await signIn(base, gateway.adminKey);
    expect(platform.session.principal).toEqual({ kind: 'platform' });
    const list = await panelFetch(base, '/admin/v1/deployments', { session: platform.id });
    expect(list.status).toBe(200);
    const body = (await list.json()) as { object: string; data: Record<string, unknown>[] };
    expect(body.object).toBe('list');
    expect(body.data).toContainEqual({
      model: 'gpt-test',
      deployment: expect.any(String),
      provider: 'upstream',
      circuit_state: 'closed',
      in_flight: 0,
      latency_ms_p50: null,
      region: null,
      weight: expect.any(Number),
      priority: expect.any(Number),
    });
    const tenant = await signIn(base, gateway.apiKey);
    const refused = await panelFetch(base, '/admin/v1/deployments', { session: tenant.id });
    expect([refused.status, await errorCode(refused)]).toEqual([403, 'permission_denied']);
    const bearer = await gateway.fetch('/admin/v1/deployments');
    expect(bearer.status).toBe(403);
    const admin = await gateway.fetch('/admin/v1/deployments', {
      headers: { authorization: `Bearer ${gateway.adminKey}` },
    });
    expect(admin.status).toBe(200);
  });

  it('refuses bad keys and bad bodies with an error and no cookie', async () => {
    const attempts: [unknown, number, string][] = [
      [{ api_key: '' }, 400, 'invalid_request'],
      [{}, 400, 'invalid_request'],
      [{ api_key: 42 }, 400, 'invalid_request'],
      [{ api_key: gateway.apiKey, extra: true }, 400, 'invalid_request'],
      [['not', 'an', 'object'], 400, 'invalid_request'],
      [{ api_key: 'llmb_malformed' }, 401, 'invalid_api_key'],
      [{ api_key: keys.member }, 403, 'permission_denied'],
    ];
    for (const [body, status, code] of attempts) {
      const response = await panelFetch(base, '/ui/api/session', { method: 'POST', body });
      expect([response.status, await errorCode(response)], JSON.stringify(body)).toEqual([
        status,
        code,
      ]);
      expect(sessionCookieOf(response)).toBeNull();
    }
    const notJson = await fetch(`${base}/ui/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"api_key":',
    });
    expect(notJson.status).toBe(400);
    expect(sessionCookieOf(notJson)).toBeNull();
  });
});

describe('a session cookie without its CSRF token', () => {
  it('changes nothing, while the same call with the token goes through', async () => {
    const { id, session } = await signIn(base, gateway.apiKey);
    const before = await gateway.fetch('/admin/v1/tenants/test/users').then((r) => r.text());
    const user = { email: `csrf-${Date.now()}@example.com`, name: 'C', role: 'viewer' };
    for (const csrf of [undefined, '', 'x'.repeat(43), `${session.csrf_token}x`]) {
      const post = await panelFetch(base, '/admin/v1/tenants/test/users', {
        method: 'POST',
        session: id,
        csrf,
        body: user,
      });
      expect([post.status, await errorCode(post)]).toEqual([403, 'csrf_token_invalid']);
    }
    const rename = await panelFetch(base, '/admin/v1/tenants/test', {
      method: 'PATCH',
      session: id,
      body: { name: 'Renamed by a forged request' },
    });
    expect(rename.status).toBe(403);
    expect(await gateway.fetch('/admin/v1/tenants/test/users').then((r) => r.text())).toBe(before);
    expect((await gateway.services.tenants.get('test')).name).toBe('Test');
    const real = await panelFetch(base, '/admin/v1/tenants/test/users', {
      method: 'POST',
      session: id,
      csrf: session.csrf_token,
      body: user,
    });
    expect(real.status).toBe(201);
  });

  it('is ignored when the request carries an Authorization header', async () => {
    const platform = await signIn(base, gateway.adminKey);
    const asMember = await panelFetch(base, '/admin/v1/deployments', {
      session: platform.id,
      authorization: `Bearer ${keys.member}`,
    });
    expect(asMember.status).toBe(403);
    const badKey = await panelFetch(base, '/admin/v1/deployments', {
      session: platform.id,
      authorization: 'Bearer llmb_wrong',
    });
    expect([badKey.status, await errorCode(badKey)]).toEqual([401, 'invalid_api_key']);
  });
});

describe('what a session may do', () => {
  it("is the key's role: a viewer reads but cannot write", async () => {
    const { id, session } = await signIn(base, keys.viewer);
    expect((await panelFetch(base, '/admin/v1/tenants/test/users', { session: id })).status).toBe(
      200,
    );
    const write = await panelFetch(base, '/admin/v1/tenants/test/users', {
      method: 'POST',
      session: id,
      csrf: session.csrf_token,
      body: { email: 'viewer-write@example.com', name: 'V', role: 'viewer' },
    });
    expect([write.status, await errorCode(write)]).toEqual([403, 'permission_denied']);
  });

  it('ends when its tenant is disabled, and stays ended once it is enabled again', async () => {
    const slug = `panel-off-${Date.now().toString(36)}`;
    await gateway.services.tenants.create({ slug, name: 'Off' });
    const { secret } = await gateway.services.keys.create(slug, { name: 'o', role: 'owner' });
    const { id } = await signIn(base, secret);
    const admin = `Bearer ${gateway.adminKey}`;
    const disable = (status: string) =>
      panelFetch(base, `/admin/v1/tenants/${slug}`, {
        method: 'PATCH',
        authorization: admin,
        body: { status },
      });
    expect((await disable('disabled')).status).toBe(200);
    const gone = await panelFetch(base, `/admin/v1/tenants/${slug}/users`, { session: id });
    expect(gone.status).toBe(401);
    expect((await disable('active')).status).toBe(200);
    expect((await panelFetch(base, '/ui/api/session', { session: id })).status).toBe(401);
  });
});

describe('session expiry', () => {
  it('ends an idle session, and a busy one at its absolute end', async () => {
    const idle = await signIn(base, gateway.apiKey);
    const busy = await signIn(base, gateway.apiKey);
    for (let step = 0; step < 2; step++) {
      ahead += 50_000;
      expect((await panelFetch(base, '/ui/api/session', { session: busy.id })).status).toBe(200);
    }
    const expired = await panelFetch(base, '/ui/api/session', { session: idle.id });
    expect([expired.status, await errorCode(expired)]).toEqual([401, 'session_expired']);
    ahead += 50_000;
    const ended = await panelFetch(base, '/admin/v1/tenants/test/users', { session: busy.id });
    expect([ended.status, await errorCode(ended)]).toEqual([401, 'session_expired']);
  });
});
