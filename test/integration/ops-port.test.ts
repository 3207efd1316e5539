import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * OPS_PORT: the operations endpoints move to a port of their own; the health checks answer
 * on both ports, and the API only on the main one.
 */
const config = { providers: { mock: { type: 'mock' } }, models: [] };

async function opsUrlOf(gateway: TestGateway): Promise<string> {
  const line = await eventually(() => {
    const found = gateway.logs.find((log) => log.msg === 'operations endpoints listening');
    if (found === undefined) throw new Error('the operations port is not listening');
    return found;
  });
  return `http://127.0.0.1:${line.port as number}`;
}

const statusOf = async (url: string, init: RequestInit = {}) => {
  const response = await fetch(url, init);
  await response.text();
  return response.status;
};

describe('with OPS_PORT set', () => {
  let gateway: TestGateway;
  let ops: string;
  beforeAll(async () => {
    gateway = await startGateway(config, { OPS_PORT: '0' });
    ops = await opsUrlOf(gateway);
  });
  afterAll(() => gateway.close());

  it('serves metrics, the OpenAPI document and Swagger UI there, and health', async () => {
    for (const path of ['/metrics', '/openapi.json', '/docs/json', '/health/live', '/health/ready'])
      expect(await statusOf(`${ops}${path}`), path).toBe(200);
  });

  it('no longer serves them on the main port, where health and the API stay', async () => {
    for (const path of ['/metrics', '/openapi.json', '/docs', '/docs/json']) {
      const response = await fetch(`${gateway.url}${path}`);
      expect(response.status, path).toBe(404);
      expect(await response.json()).toMatchObject({ error: { code: 'not_found' } });
    }
    expect(await statusOf(`${gateway.url}/health/live`)).toBe(200);
    const models = await gateway.fetch('/v1/models');
    expect(models.status).toBe(200);
  });

  it('does not serve the API on the operations port', async () => {
    const headers = { authorization: `Bearer ${gateway.apiKey}` };
    expect(await statusOf(`${ops}/v1/models`, { headers })).toBe(404);
    const admin = { authorization: `Bearer ${gateway.adminKey}` };
    expect(await statusOf(`${ops}/admin/v1/tenants`, { headers: admin })).toBe(404);
  });

  it('counts the requests of both ports in one set of metrics', async () => {
    await statusOf(`${gateway.url}/health/live`);
    const metrics = await (await fetch(`${ops}/metrics`)).text();
    expect(metrics).toMatch(
      /llm_backend_http_requests_total\{method="GET",route="\/health\/live",status="200"\}/,
    );
  });
});

describe('the operations port', () => {
  it('asks for the platform key there too with OPS_AUTH=platform_key', async () => {
    const gateway = await startGateway(config, { OPS_PORT: '0', OPS_AUTH: 'platform_key' });
    try {
      const ops = await opsUrlOf(gateway);
      expect(await statusOf(`${ops}/metrics`)).toBe(401);
      const headers = { authorization: `Bearer ${gateway.adminKey}` };
      expect(await statusOf(`${ops}/metrics`, { headers })).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it('closes with the gateway', async () => {
    const gateway = await startGateway(config, { OPS_PORT: '0' });
    const ops = await opsUrlOf(gateway);
    await gateway.close();
    await expect(fetch(`${ops}/health/live`)).rejects.toThrow();
  });
});
