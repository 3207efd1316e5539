import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { auditJson } from '../helpers/audit.js';
import { chat, freshQuestion, useCacheGateway } from '../helpers/cache-gateway.js';
import type { TestGateway } from '../helpers/gateway.js';
import { STORE_KINDS } from '../helpers/limit-stores.js';

const PATH = '/admin/v1/tenants/test/cache';

async function call(
  gateway: TestGateway,
  method: string,
  path: string,
  body?: unknown,
  key?: string,
) {
  const response = await gateway.fetch(path, {
    method,
    headers: {
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...(key !== undefined && { authorization: `Bearer ${key}` }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

const NULLS = {
  enabled: null,
  ttl_seconds: null,
  max_entry_bytes: null,
  budget_bytes: null,
  allow_nondeterministic: null,
  semantic: null,
};

describe.each(STORE_KINDS)('the cache admin API on the %s store', (kind) => {
  const { gateway, upstream, stores } = useCacheGateway(kind);

  it('reads, replaces and audits the settings; a change reaches the request path at once', async () => {
    const before = await call(gateway, 'GET', PATH);
    expect(before).toEqual({
      status: 200,
      json: { object: 'cache_settings', ...NULLS, updated_at: null },
    });
    const put = await call(gateway, 'PUT', PATH, { enabled: false, ttl_seconds: 120 });
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ ...NULLS, enabled: false, ttl_seconds: 120 });
    expect((await call(gateway, 'GET', PATH)).json).toEqual(put.json);
    const [entry] = await auditJson(gateway.services, 'test', { action: 'cache_settings.update' });
    expect(entry).toMatchObject({
      action: 'cache_settings.update',
      target_type: 'cache_settings',
      after: { enabled: false, ttl_seconds: 120 },
    });
    // The tenant turned caching off for a model that caches: no cache for its requests.
    const body = chat(freshQuestion());
    for (let i = 0; i < 2; i++) {
      const { response } = await gateway.client.chat.completions.create(body).withResponse();
      expect(response.headers.get('x-llm-backend-cache')).toBeNull();
    }
    expect(upstream.requests).toHaveLength(2);
    expect((await call(gateway, 'PUT', PATH, {})).json).toMatchObject(NULLS);
  });

  it('refuses bad settings with a clear 400 and changes nothing', async () => {
    await call(gateway, 'PUT', PATH, { ttl_seconds: 60 });
    for (const bad of [
      { ttl_seconds: 0 },
      { ttl_seconds: 'long' },
      { budget_bytes: -1 },
      { max_entry_bytes: 1.5 },
      { enabled: 'yes' },
      { surprise: true },
    ]) {
      const refused = await call(gateway, 'PUT', PATH, bad);
      expect(refused.status, JSON.stringify(bad)).toBe(400);
      const error = refused.json.error as { type: string; message: string };
      expect(error.type).toBe('invalid_request_error');
      expect(error.message.length).toBeGreaterThan(10);
    }
    expect((await call(gateway, 'GET', PATH)).json).toMatchObject({ ttl_seconds: 60 });
    await call(gateway, 'PUT', PATH, {});
  });

  it('shows what the cache holds and purges it, audited', async () => {
    await call(gateway, 'DELETE', PATH);
    const body = chat(freshQuestion());
    await gateway.client.chat.completions.create(body);
    await gateway.client.chat.completions.create(body);
    const stats = await call(gateway, 'GET', `${PATH}/stats`);
    expect(stats.status).toBe(200);
    expect(stats.json).toMatchObject({ object: 'cache_stats', entries: 1, hits: 1, misses: 1 });
    expect(stats.json.bytes).toBeGreaterThan(100);
    expect(stats.json.budget_bytes).toBe(104_857_600);
    const purged = await call(gateway, 'DELETE', PATH);
    expect(purged).toEqual({
      status: 200,
      json: { object: 'cache_purge', entries: 1, bytes: stats.json.bytes, semantic_entries: 0 },
    });
    expect((await call(gateway, 'GET', `${PATH}/stats`)).json).toMatchObject({
      entries: 0,
      bytes: 0,
      hits: 0,
    });
    const [entry] = await auditJson(gateway.services, 'test', { action: 'cache.purge' });
    expect(entry).toMatchObject({ action: 'cache.purge', before: { entries: 1 } });
    const { response } = await gateway.client.chat.completions.create(body).withResponse();
    expect(response.headers.get('x-llm-backend-cache')).toBe('miss');
  });

  it("empties a deleted tenant's cache at once", async () => {
    const { services, url } = gateway;
    const slug = `gone-${kind}-${Date.now()}`;
    const tenant = await services.tenants.create({ slug, name: 'Gone' });
    const { secret } = await services.keys.create(slug, { name: 'g', role: 'owner' });
    const client = new OpenAI({ apiKey: secret, baseURL: `${url}/v1`, maxRetries: 0 });
    const body = chat(freshQuestion());
    await client.chat.completions.create(body);
    const { response } = await client.chat.completions.create(body).withResponse();
    expect(response.headers.get('x-llm-backend-cache')).toBe('hit');
    const keys = async () => (await stores.redis?.keys(`llmb:cache:{${tenant.id}}:*`)) ?? [];
    if (kind === 'redis') expect((await keys()).length).toBeGreaterThan(0);
    await services.tenants.delete(slug);
    expect(await stores.responses.stats(tenant.id)).toMatchObject({ entries: 0, bytes: 0 });
    expect(await keys()).toEqual([]);
  });

  it('lets viewers read, managers write, and nobody else in', async () => {
    const { keys } = gateway.services;
    const viewer = (await keys.create('test', { name: 'v', role: 'viewer' })).secret;
    const member = (await keys.create('test', { name: 'm', role: 'member' })).secret;
    const admin = (await keys.create('test', { name: 'a', role: 'admin' })).secret;
    expect((await call(gateway, 'GET', PATH, undefined, viewer)).status).toBe(200);
    expect((await call(gateway, 'GET', `${PATH}/stats`, undefined, viewer)).status).toBe(200);
    expect((await call(gateway, 'PUT', PATH, {}, viewer)).status).toBe(403);
    expect((await call(gateway, 'DELETE', PATH, undefined, viewer)).status).toBe(403);
    expect((await call(gateway, 'GET', PATH, undefined, member)).status).toBe(403);
    expect((await call(gateway, 'PUT', PATH, {}, admin)).status).toBe(200);
    const otherTenant = '/admin/v1/tenants/other/cache';
    expect((await call(gateway, 'GET', otherTenant, undefined, admin)).status).toBe(403);
    expect((await call(gateway, 'GET', otherTenant, undefined, gateway.adminKey)).status).toBe(200);
  });

  it('documents the routes in the OpenAPI description', async () => {
    const response = await fetch(`${gateway.url}/openapi.json`);
    const spec = (await response.json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(spec.paths['/admin/v1/tenants/{tenant}/cache'] ?? {}).sort()).toEqual([
      'delete',
      'get',
      'put',
    ]);
    expect(spec.paths['/admin/v1/tenants/{tenant}/cache/stats']?.get).toBeDefined();
  });
});
