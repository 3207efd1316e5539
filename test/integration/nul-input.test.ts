import { beforeAll, describe, expect, it } from 'vitest';
import { chatCompletion, json } from '../helpers/fake-upstream.js';
import { useUpstreamGateway } from '../helpers/gateway.js';
import type { TestServices } from '../helpers/tenant-services.js';

/**
 * A NUL character (U+0000) in any admin string, path segment or query filter is refused with
 * a 400 naming the field before anything is stored or queried (PostgreSQL cannot store it).
 * Every admin route is read from the OpenAPI document, so a route added later is probed
 * without being named here. The data plane passes NUL through to the upstream untouched.
 */
const { upstream, gateway } = useUpstreamGateway();
upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));

interface Parameter {
  in: string;
  name: string;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: {
    content: {
      'application/json': { example?: unknown; schema?: { properties?: Record<string, unknown> } };
    };
  };
}
interface Route {
  method: string;
  path: string;
  operation: Operation;
}
interface Probe {
  what: string;
  path: string;
  query?: string;
  body?: unknown;
  param: string;
}

const WITH_NUL = 'a\u0000b';
let routes: Route[];
let ids: Record<string, string>;

beforeAll(async () => {
  const { users, keys, limitRules, quotas, webhooks } = gateway.services;
  const user = (await users.create('test', { email: 'nul@test.test', name: 'N', role: 'member' }))
    .id;
  const key = (await keys.create('test', { name: 'nul', role: 'member', userId: user })).key.id;
  const limit = (
    await limitRules.set('test', { scope: 'key', subjectId: key, requestsPerMinute: 9 })
  ).rule.id;
  const quota = (
    await quotas.set('test', {
      scope: 'key',
      subjectId: key,
      metric: 'tokens',
      period: 'day',
      amount: 1000,
      thresholds: [80],
    })
  ).quota.id;
  const webhook = (
    await webhooks.endpoints.create('test', {
      url: 'https://1.1.1.1/webhook',
      eventTypes: ['quota.*'],
    })
  ).webhook.id;
  const delivery = (await webhooks.deliveries.sendTest('test', webhook)).id;
  // An invoice that does not exist: a NUL in any other part is refused before it is looked up.
  ids = {
    tenant: 'test',
    user,
    key,
    limit,
    quota,
    webhook,
    delivery,
    provider: 'upstream',
    invoice: 'inv_missing',
  };
  const doc = (await (await fetch(`${gateway.url}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, Operation>>;
  };
  routes = Object.entries(doc.paths)
    .filter(([path]) => path.startsWith('/admin/v1/'))
    .flatMap(([path, operations]) =>
      Object.entries(operations).map(([method, operation]) => ({ method, path, operation })),
    );
}, 60_000);

function fill(path: string, nulIn?: string): string {
  return path.replace(/\{(\w+)\}/g, (_match, name: string) => {
    if (name === nulIn) return encodeURIComponent(WITH_NUL);
    const id = ids[name];
    if (id === undefined) throw new Error(`the probe cannot fill {${name}} in ${path}`);
    return id;
  });
}

/** The string leaves of an example body, each with its path in OpenAI's `param` form. */
function stringLeaves(value: unknown, path = ''): [string, (root: unknown) => unknown][] {
  if (typeof value === 'string') return [[path, () => WITH_NUL]];
  const join = (key: string | number) =>
    typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, index) => [index, item])
    : value !== null && typeof value === 'object'
      ? Object.entries(value)
      : [];
  return entries.flatMap(([key, item]) =>
    stringLeaves(item, join(key)).map(([param, replace]): [string, (root: unknown) => unknown] => [
      param,
      (node) => {
        const copy = structuredClone(node) as Record<string | number, unknown>;
        copy[key] = replace(copy[key]);
        return copy;
      },
    ]),
  );
}

function probesOf(route: Route): Probe[] {
  const what = `${route.method.toUpperCase()} ${route.path}`;
  const parameters = route.operation.parameters ?? [];
  const probes: Probe[] = [];
  for (const { name } of parameters.filter((p) => p.in === 'path'))
    probes.push({ what: `${what} {${name}}`, path: fill(route.path, name), param: name });
  for (const { name } of parameters.filter((p) => p.in === 'query'))
    probes.push({
      what: `${what} ?${name}`,
      path: fill(route.path),
      query: `${name}=${encodeURIComponent(WITH_NUL)}`,
      param: name,
    });
  const content = route.operation.requestBody?.content['application/json'];
  if (content !== undefined) {
    const example = content.example ?? {};
    for (const [param, replace] of stringLeaves(example))
      probes.push({
        what: `${what} body ${param}`,
        path: fill(route.path),
        body: replace(example),
        param,
      });
    // Fields the example leaves out are probed too, whatever their type.
    for (const field of Object.keys(content.schema?.properties ?? {}))
      if (!Object.hasOwn(example as object, field))
        probes.push({
          what: `${what} body ${field}`,
          path: fill(route.path),
          body: { ...(example as object), [field]: WITH_NUL },
          param: field,
        });
    probes.push({
      what: `${what} body key`,
      path: fill(route.path),
      body: { ...(example as object), [`x${WITH_NUL}`]: 1 },
      param: `x${WITH_NUL}`,
    });
  }
  return probes;
}

async function send(route: Route, probe: Probe): Promise<Response> {
  const init: RequestInit = {
    method: route.method.toUpperCase(),
    headers: { authorization: `Bearer ${gateway.adminKey}` },
  };
  if (probe.body !== undefined) {
    init.body = JSON.stringify(probe.body);
    init.headers = { ...init.headers, 'content-type': 'application/json' };
  }
  const query = probe.query === undefined ? '' : `?${probe.query}`;
  return gateway.fetch(`${probe.path}${query}`, init);
}

async function snapshot(): Promise<string> {
  const tenant = await gateway.services.tenants.get('test');
  const db = gateway.services.tenants.database(tenant);
  const control = (gateway.services as TestServices).backend.control;
  return JSON.stringify({
    users: await db.selectFrom('users').selectAll().orderBy('id').execute(),
    keys: await db.selectFrom('api_keys').selectAll().orderBy('id').execute(),
    limits: await db.selectFrom('rate_limits').selectAll().orderBy('id').execute(),
    quotas: await db.selectFrom('quotas').selectAll().orderBy('id').execute(),
    webhooks: await db.selectFrom('webhook_endpoints').selectAll().orderBy('id').execute(),
    deliveries: await db.selectFrom('webhook_deliveries').selectAll().orderBy('id').execute(),
    providerKeys: await db.selectFrom('provider_keys').selectAll().orderBy('provider').execute(),
    audit: await db.selectFrom('audit_log').selectAll().orderBy('seq').execute(),
    tenants: await control.selectFrom('tenants').selectAll().orderBy('id').execute(),
  });
}

describe('a NUL character in the admin API', () => {
  it('is refused with a 400 naming the field, on every route, and changes nothing', async () => {
    expect(routes.length).toBeGreaterThanOrEqual(20);
    const before = await snapshot();
    const probes = routes.flatMap((route) => probesOf(route).map((probe) => ({ route, probe })));
    expect(probes.length).toBeGreaterThanOrEqual(60);
    for (const { route, probe } of probes) {
      const response = await send(route, probe);
      const body = (await response.json()) as { error?: { code: string; param: string } };
      expect([response.status, body.error?.code, body.error?.param], probe.what).toEqual([
        400,
        'invalid_request',
        probe.param,
      ]);
    }
    expect(await snapshot()).toBe(before);
  });

  it('says what is wrong', async () => {
    const response = await gateway.fetch('/admin/v1/tenants', {
      method: 'POST',
      headers: { authorization: `Bearer ${gateway.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'nul-tenant', name: WITH_NUL }),
    });
    expect(await response.json()).toEqual({
      error: {
        message: "Invalid value for 'name': it must not contain a NUL character (\\u0000).",
        type: 'invalid_request_error',
        param: 'name',
        code: 'invalid_request',
      },
    });
  });

  it('is checked after the key: without one the answer is 401', async () => {
    const response = await fetch(`${gateway.url}/admin/v1/tenants/${encodeURIComponent(WITH_NUL)}`);
    expect(response.status).toBe(401);
  });
});

describe('a NUL character on the data plane', () => {
  const messages = [{ role: 'user' as const, content: `hello${WITH_NUL}world` }];

  it('goes upstream unchanged in a prompt and a user field', async () => {
    const result = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      messages,
      user: WITH_NUL,
    });
    expect(result.choices[0]?.message.content).toBe('ok');
    expect(upstream.requests[0]?.body).toMatchObject({ messages, user: WITH_NUL });
  });

  it('in an embedding input or a completion prompt goes upstream too', async () => {
    upstream.next((_req, res) =>
      json(res, 200, {
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: [0.1] }],
        model: 'upstream-embed',
        usage: { prompt_tokens: 1, total_tokens: 1 },
      }),
    );
    await gateway.client.embeddings.create({ model: 'embed-test', input: WITH_NUL });
    expect(upstream.requests[0]?.body).toMatchObject({ input: WITH_NUL });
    const completion = await gateway.fetch('/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-test', prompt: WITH_NUL }),
    });
    expect(completion.status).toBeLessThan(500);
  });

  it('in a model name is an unknown model, never a 5xx', async () => {
    for (const stream of [false, true]) {
      const response = await gateway.fetch('/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: `gpt${WITH_NUL}`, messages, stream }),
      });
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: { code: 'model_not_found' } });
    }
    const model = await gateway.fetch(`/v1/models/${encodeURIComponent(WITH_NUL)}`);
    expect(model.status).toBe(404);
    expect(upstream.requests).toHaveLength(0);
  });
});
