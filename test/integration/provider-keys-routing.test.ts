import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UsageWorker } from '../../src/services/usage/usage-worker.js';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import { startGateway, TEST_UPSTREAM_KEY, type TestGateway } from '../helpers/gateway.js';

const upstream = new FakeUpstream();
const gateway = {} as TestGateway;

beforeAll(async () => {
  await upstream.start();
  upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));
  Object.assign(
    gateway,
    await startGateway({
      providers: {
        byok: {
          type: 'openai-compatible',
          base_url: upstream.url,
          api_key_env: 'TEST_UPSTREAM_KEY',
          tenant_keys: true,
        },
      },
      models: [
        {
          name: 'gpt-byok',
          provider: 'byok',
          model: 'upstream-model',
          pricing: { input: 1, output: 2 },
        },
      ],
    }),
  );
});
afterAll(async () => {
  await gateway.close?.();
  await upstream.stop();
});
afterEach(() => upstream.reset());

async function keyUpstreamSaw(client: OpenAI = gateway.client): Promise<string | undefined> {
  await client.chat.completions.create({
    model: 'gpt-byok',
    messages: [{ role: 'user', content: 'Hi' }],
  });
  return upstream.requests.at(-1)?.headers.authorization;
}

function setKey(tenant: string, apiKey: string) {
  return gateway.fetch(`/admin/v1/tenants/${tenant}/provider-keys/byok`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${gateway.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ api_key: apiKey }),
  });
}

describe("a tenant's own provider key on the request path", () => {
  it('replaces the platform key for that tenant only, at once, and is dropped on delete', async () => {
    expect(await keyUpstreamSaw()).toBe(`Bearer ${TEST_UPSTREAM_KEY}`);
    expect((await setKey('test', 'sk-tenant-own-key-1234')).status).toBe(201);
    expect(await keyUpstreamSaw()).toBe('Bearer sk-tenant-own-key-1234');

    // Another tenant keeps calling with the platform's key.
    await gateway.services.tenants.create({ slug: 'other', name: 'Other' });
    const { secret } = await gateway.services.keys.create('other', { name: 'o', role: 'owner' });
    const other = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    expect(await keyUpstreamSaw(other)).toBe(`Bearer ${TEST_UPSTREAM_KEY}`);

    const removed = await gateway.fetch('/admin/v1/tenants/test/provider-keys/byok', {
      method: 'DELETE',
      headers: { authorization: `Bearer ${gateway.adminKey}` },
    });
    expect(removed.status).toBeLessThan(300);
    expect(await keyUpstreamSaw()).toBe(`Bearer ${TEST_UPSTREAM_KEY}`);
  });

  it('never writes the tenant key into the request log', async () => {
    expect((await setKey('test', 'sk-tenant-secret-never-logged')).status).toBeLessThan(300);
    await keyUpstreamSaw();
    expect(JSON.stringify(gateway.logs)).not.toContain('sk-tenant-secret-never-logged');
  });
});

describe("a tenant's own provider key in accounting", () => {
  it("costs the platform nothing and is charged the plan's BYOK fee instead of its tokens", async () => {
    await gateway.services.tenants.create({ slug: 'byok-bill', name: 'BYOK' });
    await gateway.services.billing.setPlan('byok-bill', {
      currency: 'USD',
      rates: { 'gpt-byok': { input: '5', output: '10' } },
      byok_fee: '0.002',
    });
    const { secret } = await gateway.services.keys.create('byok-bill', {
      name: 'b',
      role: 'owner',
    });
    const client = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    await keyUpstreamSaw(client);
    expect((await setKey('byok-bill', 'sk-byok-bill-own-key-1')).status).toBe(201);
    expect(await keyUpstreamSaw(client)).toBe('Bearer sk-byok-bill-own-key-1');
    await new UsageWorker({
      queue: gateway.services.usageQueue,
      records: gateway.services.usageRecords,
      consumer: 'byok-test',
      log: { warn: () => {}, error: () => {} },
    }).drain();
    const rows = await gateway.services.tenants
      .database(await gateway.services.tenants.get('byok-bill'))
      .selectFrom('usage_records')
      .select(['byok', 'cost', 'charge_basis', 'charge_input_micros', 'charge_other_micros'])
      .orderBy('at')
      .execute();
    expect(rows).toHaveLength(2);
    const [platform, own] = rows;
    expect(platform).toMatchObject({
      byok: false,
      charge_basis: 'rate_card',
      charge_other_micros: '0',
    });
    expect(Number(platform?.cost)).toBeGreaterThan(0);
    expect(Number(platform?.charge_input_micros)).toBeGreaterThan(0);
    expect(own).toMatchObject({
      byok: true,
      charge_basis: 'byok',
      charge_input_micros: '0',
      charge_other_micros: '2000',
    });
    expect(Number(own?.cost)).toBe(0);
  });
});
