import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpsServer, startOpsServer } from '../../src/composition/worker-ops.js';
import { loadConfig } from '../../src/config/load.js';
import { BACKENDS } from '../helpers/databases.js';
import { composeForTest, TEST_MASTER_KEY, type TestServices } from '../helpers/tenant-services.js';

describe.each(BACKENDS)(
  "the worker's operations port on %s, with OPS_AUTH=platform_key",
  (kind) => {
    let services: TestServices;
    let ops: OpsServer;
    let url: string;

    beforeAll(async () => {
      const config = loadConfig({ MASTER_KEY: TEST_MASTER_KEY, OPS_AUTH: 'platform_key' });
      services = await composeForTest(kind, { role: 'worker', config });
      ops = await startOpsServer(services.root, { port: 0, host: '127.0.0.1' });
      url = `http://127.0.0.1:${ops.port}`;
    }, 60_000);
    afterAll(async () => {
      await ops?.close();
      await services?.close();
    });

    const metrics = (authorization?: string) =>
      fetch(`${url}/metrics`, authorization ? { headers: { authorization } } : {});

    it('refuses /metrics without a key, and a tenant key, in OpenAI shape', async () => {
      const none = await metrics();
      expect(none.status).toBe(401);
      expect(((await none.json()) as { error: { code: string } }).error.code).toBe(
        'invalid_api_key',
      );
      await services.tenants.create({ slug: 'ops-tenant', name: 'Ops' });
      const { secret } = await services.keys.create('ops-tenant', { name: 'k', role: 'owner' });
      const tenant = await metrics(`Bearer ${secret}`);
      expect(tenant.status).toBe(403);
      expect(((await tenant.json()) as { error: { code: string } }).error.code).toBe(
        'permission_denied',
      );
      expect(await (await metrics('Bearer sk-not-a-key')).text()).not.toContain('llm_backend_up');
    });

    it('serves the metrics to a platform admin key, and health without one', async () => {
      const admin = await services.platformKeys.create({ name: 'ops-admin' });
      const answer = await metrics(`Bearer ${admin.secret}`);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await answer.text()).toMatch(/^llm_backend_up\{instance_role="worker"\} 1$/m);
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
    });
  },
);
