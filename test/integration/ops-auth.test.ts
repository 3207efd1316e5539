import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway, useUpstreamGateway } from '../helpers/gateway.js';

/**
 * OPS_AUTH=platform_key: /metrics, /openapi.json and Swagger UI (/docs and all under it)
 * answer only a platform admin key; the health checks stay open. Off by default.
 */
const PROTECTED = [
  ['GET', '/metrics'],
  ['HEAD', '/metrics'],
  ['GET', '/openapi.json'],
  ['GET', '/docs'],
  ['GET', '/docs/'],
  ['GET', '/docs/json'],
  ['GET', '/docs/static/index.html'],
] as const;

const { gateway: open } = useUpstreamGateway();

describe('with OPS_AUTH unset', () => {
  it('serves the operations endpoints without a key, as before', async () => {
    for (const path of ['/metrics', '/openapi.json', '/docs/json', '/health/live']) {
      const response = await fetch(`${open.url}${path}`);
      expect(response.status, path).toBe(200);
      await response.text();
    }
  });
});

describe('with OPS_AUTH=platform_key', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway(
      { providers: { mock: { type: 'mock' } }, models: [] },
      {
        OPS_AUTH: 'platform_key',
      },
    );
  });
  afterAll(() => gateway.close());

  const call = (method: string, path: string, key?: string) =>
    fetch(`${gateway.url}${path}`, {
      method,
      headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
    });

  it('answers 401 in OpenAI shape without a key, on every protected path', async () => {
    for (const [method, path] of PROTECTED) {
      const response = await call(method, path);
      expect(response.status, `${method} ${path}`).toBe(401);
      if (method === 'GET')
        expect(await response.json()).toMatchObject({
          error: { code: 'invalid_api_key', type: 'invalid_request_error' },
        });
    }
  });

  it("answers 403 to a tenant's key", async () => {
    const response = await call('GET', '/metrics', gateway.apiKey);
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: { code: 'permission_denied' } });
  });

  it('serves a platform admin key', async () => {
    for (const [method, path] of PROTECTED) {
      const response = await call(method, path, gateway.adminKey);
      expect(response.status, `${method} ${path}`).toBeLessThan(400);
      await response.text();
    }
    const metrics = await (await call('GET', '/metrics', gateway.adminKey)).text();
    expect(metrics).toContain('llm_backend_http_requests_total');
  });

  it('leaves the health checks and the API as they were', async () => {
    for (const path of ['/health/live', '/health/ready']) {
      const response = await call('GET', path);
      expect(response.status, path).toBe(200);
      await response.text();
    }
    expect((await gateway.fetch('/v1/models')).status).toBe(200);
  });
});
