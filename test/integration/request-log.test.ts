import { afterEach, describe, expect, it, vi } from 'vitest';
import { json } from '../helpers/fake-upstream.js';
import { completionLog, useUpstreamGateway } from '../helpers/gateway.js';

/** The one line each request leaves, with whom it was for: tenant, user and key. */
describe('the request log line', () => {
  const { gateway, upstream } = useUpstreamGateway();
  afterEach(() => vi.restoreAllMocks());

  /** Every line a request wrote, once its `request completed` line is there. */
  async function linesOf(requestId: string | null) {
    await completionLog(gateway, requestId);
    return gateway.logs.filter((log) => log.requestId === requestId);
  }

  it("names the tenant, the key and the key's user of a data plane request", async () => {
    const { services } = gateway;
    const user = await services.users.create('test', {
      email: 'logged@test.test',
      name: 'Logged',
      role: 'member',
    });
    const { key, secret } = await services.keys.create('test', {
      name: 'logged',
      role: 'member',
      userId: user.id,
    });
    const response = await gateway.fetch('/v1/models', {
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(response.status).toBe(200);
    const line = await completionLog(gateway, response.headers.get('x-request-id'));
    const tenant = await services.tenants.get('test');
    expect(line).toMatchObject({ tenantId: tenant.id, userId: user.id, keyId: key.id });
  });

  it('names the tenant a platform key acted on through the admin API', async () => {
    const response = await gateway.fetch('/admin/v1/tenants/test/users', {
      headers: { authorization: `Bearer ${gateway.adminKey}` },
    });
    expect(response.status).toBe(200);
    const line = await completionLog(gateway, response.headers.get('x-request-id'));
    const tenant = await gateway.services.tenants.get('test');
    expect(line).toMatchObject({ tenantId: tenant.id, userId: null });
  });

  it("names the key's user on every line of the request, its error line too", async () => {
    const { services } = gateway;
    const user = await services.users.create('test', {
      email: 'failing@test.test',
      name: 'Failing',
      role: 'member',
    });
    const { key, secret } = await services.keys.create('test', {
      name: 'failing',
      role: 'member',
      userId: user.id,
    });
    upstream.next((_req, res) => json(res, 500, { error: { message: 'gpu melted' } }));
    const response = await gateway.fetch('/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(response.status).toBe(502);
    const tenant = await services.tenants.get('test');
    const lines = await linesOf(response.headers.get('x-request-id'));
    expect(lines.map((line) => line.msg)).toEqual(
      expect.arrayContaining(['request failed', 'request completed']),
    );
    for (const line of lines)
      expect(line).toMatchObject({ tenantId: tenant.id, userId: user.id, keyId: key.id });
    // Tracing is off: no trace id to lead anywhere.
    for (const line of lines) expect(line).not.toHaveProperty('traceId');
    // The caller is the request's own: the process's other lines never name it.
    const others = gateway.logs.filter((line) => line.requestId === undefined);
    expect(others.length).toBeGreaterThan(0);
    for (const line of others) expect(line).not.toHaveProperty('keyId');
  });

  it("names the tenant on a platform key's failed admin call, each line of it", async () => {
    vi.spyOn(gateway.services.limitRules, 'set').mockRejectedValueOnce(new Error('disk full'));
    const response = await gateway.fetch('/admin/v1/tenants/test/limits', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${gateway.adminKey}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ scope: 'tenant', requests_per_minute: 5 }),
    });
    expect(response.status).toBe(500);
    const tenant = await gateway.services.tenants.get('test');
    const lines = await linesOf(response.headers.get('x-request-id'));
    const failed = lines.find((log) => log.msg === 'request failed');
    expect(failed).toMatchObject({ tenantId: tenant.id, userId: null });
    for (const line of lines)
      expect(line).toMatchObject({ tenantId: tenant.id, userId: null, keyId: expect.any(String) });
  });

  it("leaves the tenant out of a platform key's call about no tenant", async () => {
    const response = await gateway.fetch('/admin/v1/tenants', {
      headers: { authorization: `Bearer ${gateway.adminKey}` },
    });
    expect(response.status).toBe(200);
    const line = await completionLog(gateway, response.headers.get('x-request-id'));
    expect(line).toMatchObject({ userId: null, keyId: expect.any(String) });
    expect(line).not.toHaveProperty('tenantId');
  });

  it('names no caller on a request whose key was refused', async () => {
    const response = await gateway.fetch('/v1/models', {
      headers: { authorization: 'Bearer llmb_not_a_real_key' },
    });
    expect(response.status).toBe(401);
    const line = await completionLog(gateway, response.headers.get('x-request-id'));
    expect(line).toMatchObject({ status: 401, error: 'invalid_api_key' });
    for (const field of ['tenantId', 'userId', 'keyId']) expect(line).not.toHaveProperty(field);
  });
});
