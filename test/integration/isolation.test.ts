import OpenAI, { toFile } from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Tenant } from '../../src/services/tenancy/tenant-service.js';
import { chatCompletion, json } from '../helpers/fake-upstream.js';
import { useUpstreamGateway } from '../helpers/gateway.js';
import type { TestServices } from '../helpers/tenant-services.js';

/**
 * One suite for every route the OpenAPI document lists: tenant A's owner key (the strongest
 * tenant role) aimed at tenant B's resources is refused, and B's database and registry
 * entry stay byte for byte the same. A route added later is covered without being named
 * here, and a route this suite cannot fill in fails it.
 */
const { upstream, gateway } = useUpstreamGateway();
upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));

interface Operation {
  requestBody?: { content: { 'application/json': { example?: unknown } } };
}
interface Route {
  method: string;
  path: string;
  operation: Operation;
}

let victim: Tenant;
let victimUser: string;
let victimKey: string;
let victimSecret: string;
let victimLimit: string;
let victimQuota: string;
let victimWebhook: string;
let victimDelivery: string;
let victimResponse: string;
let victimFile: string;
let routes: Route[];

async function snapshot(tenant: Tenant): Promise<string> {
  const db = gateway.services.tenants.database(tenant);
  const control = (gateway.services as TestServices).backend.control;
  return JSON.stringify({
    users: await db.selectFrom('users').selectAll().orderBy('id').execute(),
    keys: await db.selectFrom('api_keys').selectAll().orderBy('id').execute(),
    limits: await db.selectFrom('rate_limits').selectAll().orderBy('id').execute(),
    quotas: await db.selectFrom('quotas').selectAll().orderBy('id').execute(),
    webhooks: await db.selectFrom('webhook_endpoints').selectAll().orderBy('id').execute(),
    deliveries: await db.selectFrom('webhook_deliveries').selectAll().orderBy('id').execute(),
    attempts: await db.selectFrom('webhook_attempts').selectAll().orderBy('id').execute(),
    providerKeys: await db.selectFrom('provider_keys').selectAll().orderBy('provider').execute(),
    responses: await db.selectFrom('responses').selectAll().orderBy('id').execute(),
    files: await db.selectFrom('files').selectAll().orderBy('id').execute(),
    chunks: await db.selectFrom('file_chunks').selectAll().orderBy('file_id').execute(),
    audit: await db.selectFrom('audit_log').selectAll().orderBy('seq').execute(),
    plans: await db.selectFrom('price_plans').selectAll().orderBy('id').execute(),
    credits: await db.selectFrom('credits').selectAll().orderBy('id').execute(),
    invoices: await db.selectFrom('invoices').selectAll().orderBy('id').execute(),
    registry: await control.selectFrom('tenants').selectAll().where('id', '=', tenant.id).execute(),
    index: await control
      .selectFrom('api_key_index')
      .selectAll()
      .where('tenant_id', '=', tenant.id)
      .orderBy('key_hash')
      .execute(),
  });
}

beforeAll(async () => {
  const { tenants, users, keys } = gateway.services;
  victim = await tenants.create({ slug: 'victim', name: 'Victim' });
  victimUser = (await users.create('victim', { email: 'b@victim.test', name: 'B', role: 'owner' }))
    .id;
  const made = await keys.create('victim', { name: 'b', role: 'owner', userId: victimUser });
  victimKey = made.key.id;
  victimSecret = made.secret;
  // A stored Responses API response, made by the victim's own key (before its quota).
  const victimClient = new OpenAI({
    apiKey: victimSecret,
    baseURL: `${gateway.url}/v1`,
    maxRetries: 0,
  });
  victimResponse = (await victimClient.responses.create({ model: 'gpt-test', input: 'hi' })).id;
  victimFile = (
    await victimClient.files.create({
      file: await toFile(Buffer.from('{"custom_id":"a"}\n'), 'in.jsonl'),
      purpose: 'batch',
    })
  ).id;
  victimLimit = (
    await gateway.services.limitRules.set('victim', {
      scope: 'key',
      subjectId: victimKey,
      requestsPerMinute: 10,
    })
  ).rule.id;
  victimQuota = (
    await gateway.services.quotas.set('victim', {
      scope: 'key',
      subjectId: victimKey,
      metric: 'tokens',
      period: 'day',
      amount: 1000,
      thresholds: [80],
    })
  ).quota.id;
  // A public address written out, so nothing needs DNS; no dispatcher runs here to call it.
  const { webhooks } = gateway.services;
  victimWebhook = (
    await webhooks.endpoints.create('victim', {
      url: 'https://1.1.1.1/webhook',
      eventTypes: ['quota.*'],
    })
  ).webhook.id;
  victimDelivery = (await webhooks.deliveries.sendTest('victim', victimWebhook)).id;
  const doc = (await (await fetch(`${gateway.url}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, Operation>>;
  };
  routes = Object.entries(doc.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => ({ method, path, operation })),
  );
}, 60_000);

function fill(path: string, tenant: string): string {
  const ids: Record<string, string> = {
    tenant,
    key: victimKey,
    user: victimUser,
    limit: victimLimit,
    quota: victimQuota,
    webhook: victimWebhook,
    delivery: victimDelivery,
    id: victimResponse,
    file_id: victimFile,
    provider: 'upstream',
    // Refused before any lookup: the victim need not have one.
    invoice: 'inv_missing',
  };
  return path.replace(/\{(\w+)\}/g, (_match, name: string) => {
    const id = ids[name];
    if (id === undefined) throw new Error(`the isolation suite cannot fill {${name}} in ${path}`);
    return id;
  });
}

async function send(route: Route, path: string): Promise<Response> {
  const init: RequestInit = { method: route.method.toUpperCase() };
  if (route.operation.requestBody !== undefined) {
    const example = route.operation.requestBody.content['application/json'].example;
    // Examples are documentation too; every request body needs one.
    if (example === undefined)
      throw new Error(`no request body example for ${route.method} ${route.path}`);
    init.body = JSON.stringify(example);
    init.headers = { 'content-type': 'application/json' };
  }
  return gateway.fetch(path, init);
}

describe("tenant A's owner key against tenant B", () => {
  it('is refused on every admin route that names B, by slug or by id, and changes nothing', async () => {
    const tenantRoutes = routes.filter((route) => route.path.includes('{tenant}'));
    expect(tenantRoutes.length).toBeGreaterThanOrEqual(10);
    const before = await snapshot(victim);
    for (const route of tenantRoutes) {
      for (const ref of [victim.slug, victim.id]) {
        const response = await send(route, fill(route.path, ref));
        const body = (await response.json()) as { error?: { code: string } };
        expect(
          [response.status, body.error?.code],
          `${route.method} ${route.path} as ${ref}`,
        ).toEqual([403, 'permission_denied']);
      }
    }
    expect(await snapshot(victim)).toBe(before);
  });

  it("finds none of B's keys or users through A's own tenant", async () => {
    const before = await snapshot(victim);
    // The platform's own keys are no tenant's: a tenant key is refused them outright (below).
    const platformOnly = (route: Route) => route.path.startsWith('/admin/v1/platform-keys');
    const byId = routes.filter(
      (route) =>
        /\{(key|user|limit|quota|webhook|delivery|id|file_id)\}/.test(route.path) &&
        !platformOnly(route),
    );
    expect(byId.length).toBeGreaterThanOrEqual(5);
    expect(byId.filter((route) => route.path.startsWith('/v1/responses/'))).toHaveLength(4);
    expect(byId.filter((route) => route.path.startsWith('/v1/files/'))).toHaveLength(3);
    for (const route of byId) {
      const response = await send(route, fill(route.path, 'test'));
      const body = (await response.json()) as { error?: { code: string } };
      expect(response.status, `${route.method} ${route.path}`).toBe(404);
      expect(body.error?.code).toMatch(
        /^(key|user|limit|quota|webhook|delivery|response|file)_not_found$/,
      );
    }
    const platformKeys = routes.filter(platformOnly);
    expect(platformKeys.length).toBeGreaterThanOrEqual(3);
    for (const route of platformKeys) {
      const response = await send(route, fill(route.path, 'test'));
      expect(response.status, `${route.method} ${route.path}`).toBe(403);
    }
    expect(await snapshot(victim)).toBe(before);
  });

  it('sees only its own tenant in the tenant list and cannot create one', async () => {
    const list = (await (await gateway.fetch('/admin/v1/tenants')).json()) as {
      data: { slug: string }[];
    };
    expect(list.data.map((tenant) => tenant.slug)).toEqual(['test']);
    const created = await send(
      routes.find(
        (route) => route.path === '/admin/v1/tenants' && route.method === 'post',
      ) as Route,
      '/admin/v1/tenants',
    );
    expect(created.status).toBe(403);
  });

  it("leaves B's database untouched by A's data plane calls, and B's key works on", async () => {
    const before = await snapshot(victim);
    await gateway.client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hi' }],
    });
    await gateway.client.models.list();
    expect(await snapshot(victim)).toBe(before);
    const victimClient = new OpenAI({
      apiKey: victimSecret,
      baseURL: `${gateway.url}/v1`,
      maxRetries: 0,
    });
    await expect(victimClient.models.list()).resolves.toBeDefined();
  });

  it("keeps A's rows in A's database only", async () => {
    const { tenants } = gateway.services;
    const user = await (
      await gateway.fetch('/admin/v1/tenants/test/users', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'only-a@test.test', name: 'A', role: 'member' }),
      })
    ).json();
    const id = (user as { id: string }).id;
    const own = tenants.database(await tenants.get('test'));
    const other = tenants.database(victim);
    expect(await own.selectFrom('users').select('id').where('id', '=', id).execute()).toHaveLength(
      1,
    );
    expect(
      await other.selectFrom('users').select('id').where('id', '=', id).execute(),
    ).toHaveLength(0);
    const trail = await other
      .selectFrom('audit_log')
      .select('id')
      .where('target_id', '=', id)
      .execute();
    expect(trail).toHaveLength(0);
  });
});
