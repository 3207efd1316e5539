import { describe, expect, it } from 'vitest';
import { completionLog, useUpstreamGateway } from '../helpers/gateway.js';

/** The one line each request leaves, with whom it was for: tenant, user and key. */
describe('the request log line', () => {
  const { gateway } = useUpstreamGateway();

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
});
