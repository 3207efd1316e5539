import type { Kysely } from 'kysely';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/services/audit/audit-log.js';
import { apiError } from '../helpers/api-error.js';
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js';
import { redisBus } from '../helpers/services.js';
import type { TestServices } from '../helpers/tenant-services.js';

/**
 * Model access at three levels (tenant, user, key), on two instances sharing one database and
 * one Redis: what one instance changes, the other applies from the next request on.
 */
const MODELS = ['alpha', 'beta', 'gamma'];
const CONFIG = {
  providers: { mock: { type: 'mock' } },
  models: MODELS.map((name) => ({ name, provider: 'mock' })),
};

let a: TestGateway;
let b: TestGateway;

beforeAll(async () => {
  a = await startGateway(CONFIG, {}, { services: { bus: await redisBus() } });
  b = await startGateway(CONFIG, {}, { services: { bus: await redisBus() }, share: a });
}, 60_000);
afterAll(async () => {
  await b?.close();
  await a?.close();
}, 60_000);

interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T & { error?: { code: string; param: string | null; message: string } };
}

/** An admin API call on instance `on` with `key` (default: the platform admin key). */
async function admin<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  options: { key?: string; on?: TestGateway } = {},
): Promise<Answer<T>> {
  const on = options.on ?? a;
  const headers: Record<string, string> = { authorization: `Bearer ${options.key ?? on.adminKey}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${on.url}/admin/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Answer<T>['body'] };
}

let tenants = 0;

/** A fresh tenant with an owner key, made through the admin API as an operator would. */
async function newTenant(allowedModels?: string[] | null) {
  const slug = `access-${++tenants}`;
  const created = await admin('POST', '/tenants', {
    slug,
    name: slug,
    ...(allowedModels !== undefined && { allowed_models: allowedModels }),
  });
  expect(created.status).toBe(201);
  const owner = await admin<{ secret: string }>('POST', `/tenants/${slug}/api-keys`, {
    name: 'owner',
    role: 'owner',
  });
  expect(owner.status).toBe(201);
  return { slug, owner: owner.body.secret };
}

const clientOn = (on: TestGateway, key: string) =>
  new OpenAI({ apiKey: key, baseURL: `${on.url}/v1`, maxRetries: 0 });

/** The configured models `/v1/models` lists to this key (routers such as `auto` left aside). */
async function listed(key: string, on: TestGateway = a): Promise<string[]> {
  const page = await clientOn(on, key).models.list();
  return page.data.map((model) => model.id).filter((id) => MODELS.includes(id));
}

const chat = (key: string, model: string, on: TestGateway = a) =>
  clientOn(on, key).chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'hi' }],
  });

async function expectRefused(key: string, model: string, on: TestGateway = a) {
  const error = await apiError(chat(key, model, on));
  expect(error).toBeInstanceOf(OpenAI.NotFoundError);
  expect([error.status, error.code]).toEqual([404, 'model_not_found']);
  const missing = await apiError(clientOn(on, key).models.retrieve(model));
  expect(missing.status).toBe(404);
}

describe('a tenant limited to some models', () => {
  it('sees and uses only those; the others do not exist for it', async () => {
    const { owner } = await newTenant(['alpha']);
    expect(await listed(owner)).toEqual(['alpha']);
    const completion = await chat(owner, 'alpha');
    expect(completion.choices[0]?.message.content).toBeTruthy();
    await expectRefused(owner, 'beta');
  });

  it('changes at once when a platform admin changes the list, and is audited', async () => {
    const { slug, owner } = await newTenant(['alpha']);
    expect(await listed(owner)).toEqual(['alpha']);
    const patched = await admin('PATCH', `/tenants/${slug}`, { allowed_models: ['beta', 'gamma'] });
    expect(patched.status).toBe(200);
    expect(patched.body.allowed_models).toEqual(['beta', 'gamma']);
    expect(await listed(owner)).toEqual(['beta', 'gamma']);
    await expectRefused(owner, 'alpha');
    const lifted = await admin('PATCH', `/tenants/${slug}`, { allowed_models: null });
    expect(lifted.body.allowed_models).toBeNull();
    expect(await listed(owner)).toEqual(MODELS);

    const tenant = await a.services.tenants.get(slug);
    const control = (a.services as TestServices).backend.control as Kysely<unknown>;
    const audit = await listAudit(control, 'platform_audit_log', {
      action: 'tenant.update',
      targetId: tenant.id,
    });
    const models = (side: unknown) => (side as { allowed_models: unknown }).allowed_models;
    // Newest first.
    expect(audit.data.map((entry) => [models(entry.before), models(entry.after)])).toEqual([
      [['beta', 'gamma'], null],
      [['alpha'], ['beta', 'gamma']],
    ]);
    expect(audit.data.every((entry) => entry.actor_type === 'platform_key')).toBe(true);
  });

  it("is the platform's to set: a tenant's own owner may not lift it", async () => {
    const { slug, owner } = await newTenant(['alpha']);
    const refused = await admin(
      'PATCH',
      `/tenants/${slug}`,
      { allowed_models: null },
      { key: owner },
    );
    expect([refused.status, refused.body.error?.code]).toEqual([403, 'permission_denied']);
    // Not even alongside a change it may make: nothing is applied.
    const mixed = await admin(
      'PATCH',
      `/tenants/${slug}`,
      { name: 'Renamed', allowed_models: ['alpha', 'beta'] },
      { key: owner },
    );
    expect(mixed.status).toBe(403);
    const tenant = await a.services.tenants.get(slug);
    expect([tenant.name, tenant.allowedModels]).toEqual([slug, ['alpha']]);
    expect(await listed(owner)).toEqual(['alpha']);
  });
});

/** A user of the tenant, and a key of that user. */
async function userWithKey(
  slug: string,
  user: { allowed_models?: string[] | null },
  key: { allowed_models?: string[] | null } = {},
) {
  const created = await admin<{ id: string }>('POST', `/tenants/${slug}/users`, {
    email: `u${++tenants}@access.test`,
    name: 'U',
    role: 'member',
    ...user,
  });
  expect(created.status).toBe(201);
  const made = await admin<{ secret: string }>('POST', `/tenants/${slug}/api-keys`, {
    name: 'k',
    role: 'member',
    user_id: created.body.id,
    ...key,
  });
  expect(made.status).toBe(201);
  return { userId: created.body.id, secret: made.body.secret };
}

describe('a user limited to some models', () => {
  it("limits the user's keys, and changes at once when the user is changed", async () => {
    const { slug } = await newTenant(null);
    const { userId, secret } = await userWithKey(slug, { allowed_models: ['gamma'] });
    expect(await listed(secret)).toEqual(['gamma']);
    await expectRefused(secret, 'alpha');
    expect((await chat(secret, 'gamma')).choices).toHaveLength(1);

    const patched = await admin('PATCH', `/tenants/${slug}/users/${userId}`, {
      allowed_models: ['alpha'],
    });
    expect([patched.status, patched.body.allowed_models]).toEqual([200, ['alpha']]);
    expect(await listed(secret)).toEqual(['alpha']);
    await expectRefused(secret, 'gamma');

    const audit = await admin<{ data: { action: string; after: Record<string, unknown> }[] }>(
      'GET',
      `/tenants/${slug}/audit-logs?action=user.update&target_id=${userId}`,
    );
    expect(audit.body.data.map((entry) => entry.after.allowed_models)).toEqual([['alpha']]);
  });

  it('leaves keys of other users and keys of nobody alone', async () => {
    const { slug, owner } = await newTenant(null);
    await userWithKey(slug, { allowed_models: ['gamma'] });
    const other = await userWithKey(slug, {});
    expect(await listed(owner)).toEqual(MODELS);
    expect(await listed(other.secret)).toEqual(MODELS);
  });
});

describe('the intersection of tenant, user and key', () => {
  it('allows only what all three allow, as each of them changes', async () => {
    const { slug, owner } = await newTenant(['alpha', 'beta', 'gamma']);
    const { userId, secret } = await userWithKey(
      slug,
      { allowed_models: ['alpha', 'beta'] },
      { allowed_models: ['beta', 'alpha'] },
    );
    expect(await listed(secret)).toEqual(['alpha', 'beta']);
    // The platform narrows the tenant below what the user and key were given.
    await admin('PATCH', `/tenants/${slug}`, { allowed_models: ['beta', 'gamma'] });
    expect(await listed(secret)).toEqual(['beta']);
    expect(await listed(owner)).toEqual(['beta', 'gamma']);
    await expectRefused(secret, 'alpha');
    await expectRefused(secret, 'gamma');
    // Nothing left in common: the key may use no model at all.
    await admin('PATCH', `/tenants/${slug}/users/${userId}`, { allowed_models: ['gamma'] });
    expect(await listed(secret)).toEqual([]);
    await expectRefused(secret, 'beta');
  });

  it("refuses a key or user whose list leaves the tenant's or the user's, creating nothing", async () => {
    const { slug } = await newTenant(['alpha', 'beta']);
    const outsideTenant = await admin('POST', `/tenants/${slug}/users`, {
      email: 'wide@access.test',
      name: 'Wide',
      role: 'member',
      allowed_models: ['alpha', 'gamma'],
    });
    expect([outsideTenant.status, outsideTenant.body.error?.param]).toEqual([
      400,
      'allowed_models',
    ]);
    expect(outsideTenant.body.error?.message).toContain("'gamma'");
    const { userId } = await userWithKey(slug, { allowed_models: ['alpha'] });
    const keysBefore = await a.services.keys.list(slug);
    for (const [body, within] of [
      [{ allowed_models: ['gamma'] }, 'tenant'],
      [{ allowed_models: ['alpha', 'beta'], user_id: userId }, 'user'],
    ] as const) {
      const refused = await admin('POST', `/tenants/${slug}/api-keys`, {
        name: 'wide',
        role: 'member',
        ...body,
      });
      expect([refused.status, refused.body.error?.code, refused.body.error?.param]).toEqual([
        400,
        'invalid_request',
        'allowed_models',
      ]);
      expect(refused.body.error?.message).toContain(`the ${within}`);
    }
    const patched = await admin('PATCH', `/tenants/${slug}/users/${userId}`, {
      allowed_models: ['gamma'],
    });
    expect(patched.status).toBe(400);
    expect((await a.services.users.get(slug, userId)).allowedModels).toEqual(['alpha']);
    expect(await a.services.keys.list(slug)).toHaveLength(keysBefore.length);
    expect((await a.services.users.list(slug)).map((user) => user.email)).not.toContain(
      'wide@access.test',
    );
  });

  it('gives a member creating its own key at most what it may use itself', async () => {
    const { slug } = await newTenant(['alpha', 'beta']);
    const { secret } = await userWithKey(slug, { allowed_models: ['beta'] });
    const own = await admin<{ allowed_models: string[] | null; secret: string }>(
      'POST',
      `/tenants/${slug}/api-keys`,
      { name: 'mine' },
      { key: secret },
    );
    expect([own.status, own.body.allowed_models]).toEqual([201, ['beta']]);
    expect(await listed(own.body.secret)).toEqual(['beta']);
    const wider = await admin(
      'POST',
      `/tenants/${slug}/api-keys`,
      { name: 'wider', allowed_models: ['alpha'] },
      { key: secret },
    );
    expect([wider.status, wider.body.error?.code]).toEqual([403, 'permission_denied']);
  });
});

describe('bad lists', () => {
  const bad: [string, unknown][] = [
    ['not an array', 'alpha'],
    ['an object', { alpha: true }],
    ['empty', []],
    ['an empty name', ['']],
    ['a blank name', ['   ']],
    ['a number', [1]],
    ['too many', Array.from({ length: 257 }, (_, i) => `model-${i}`)],
    ['a name too long', ['x'.repeat(257)]],
  ];

  it.each(bad)('are refused with 400 and change nothing: %s', async (_why, value) => {
    const { slug, owner } = await newTenant(['alpha']);
    const { userId } = await userWithKey(slug, {});
    const calls: [string, string, Record<string, unknown>][] = [
      ['POST', '/tenants', { slug: `bad-${++tenants}`, name: 'Bad' }],
      ['PATCH', `/tenants/${slug}`, { name: 'Changed' }],
      ['POST', `/tenants/${slug}/users`, { email: 'bad@access.test', name: 'B', role: 'member' }],
      ['PATCH', `/tenants/${slug}/users/${userId}`, { name: 'Changed' }],
      ['POST', `/tenants/${slug}/api-keys`, { name: 'bad' }],
    ];
    for (const [method, path, body] of calls) {
      const answer = await admin(method, path, { ...body, allowed_models: value });
      expect([answer.status, answer.body.error?.code], `${method} ${path}`).toEqual([
        400,
        'invalid_request',
      ]);
      expect(answer.body.error?.param, `${method} ${path}`).toMatch(/^allowed_models/);
    }
    const tenant = await a.services.tenants.get(slug);
    expect([tenant.name, tenant.allowedModels]).toEqual([slug, ['alpha']]);
    const users = await a.services.users.list(slug);
    expect(users.map((user) => [user.name, user.allowedModels])).toEqual([['U', null]]);
    expect(await a.services.keys.list(slug)).toHaveLength(2);
    expect((await a.services.tenants.list()).map((t) => t.name)).not.toContain('Bad');
    expect(await listed(owner)).toEqual(['alpha']);
  });
});

describe('on a second instance', () => {
  it('serves warm keys from memory, and applies tenant and user changes at once', async () => {
    const { slug, owner } = await newTenant(null);
    const { userId, secret } = await userWithKey(slug, {});
    expect(await listed(owner, b)).toEqual(MODELS);
    expect(await listed(secret, b)).toEqual(MODELS);
    // Changed behind the instances' backs, without an announcement: B does not look.
    const tenant = await a.services.tenants.get(slug);
    await (a.services as TestServices).backend.control
      .updateTable('tenants')
      .set({ allowed_models: ['gamma'] })
      .where('id', '=', tenant.id)
      .execute();
    expect(await listed(owner, b)).toEqual(MODELS);

    await admin('PATCH', `/tenants/${slug}`, { allowed_models: ['alpha', 'beta'] });
    await eventually(async () => expect(await listed(owner, b)).toEqual(['alpha', 'beta']), 2000);
    await expectRefused(owner, 'gamma', b);

    await admin('PATCH', `/tenants/${slug}/users/${userId}`, { allowed_models: ['beta'] });
    await eventually(async () => expect(await listed(secret, b)).toEqual(['beta']), 2000);
    await expectRefused(secret, 'alpha', b);
    expect((await chat(secret, 'beta', b)).choices).toHaveLength(1);
  });
});
