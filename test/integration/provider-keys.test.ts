import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSecretsCommand } from '../../src/cli/secrets-command.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { ChangeRecorder } from '../../src/services/audit/changes.js';
import { KeyRing } from '../../src/services/credentials/key-ring.js';
import {
  PROVIDER_KEYS_PURPOSE,
  ProviderKeyService,
} from '../../src/services/credentials/provider-keys.js';
import { WEBHOOK_SECRETS_PURPOSE } from '../../src/services/credentials/webhook-rewrap.js';
import { ApiKeyHasher, deriveKey } from '../../src/services/keys/key-hash.js';
import { KeyService } from '../../src/services/keys/key-service.js';
import { PlatformKeyService } from '../../src/services/keys/platform-key-service.js';
import { newId } from '../../src/utils/ids.js';
import { auditJson } from '../helpers/audit.js';
import { builtCli, useBuiltCli } from '../helpers/built-cli.js';
import { eventually, startGateway, type TestGateway, writeConfigFile } from '../helpers/gateway.js';
import { redisBus } from '../helpers/services.js';
import { TEST_MASTER_KEY, type TestServices } from '../helpers/tenant-services.js';

const CONFIG = {
  providers: {
    upstream: {
      type: 'openai-compatible',
      base_url: 'http://127.0.0.1:9/v1',
      api_key_env: 'TEST_UPSTREAM_KEY',
      tenant_keys: true,
    },
    byo: { type: 'openai-compatible', base_url: 'http://127.0.0.1:9/v1', tenant_keys: true },
    mock: { type: 'mock' },
  },
  models: [{ name: 'mock-chat', provider: 'mock' }],
};
const PROVIDER_KEYS = {
  tenantKeyProviders: new Set(['upstream', 'byo']),
  providers: new Set(['upstream', 'byo', 'mock']),
};
const NEW_MASTER_KEY = 'the-next-master-key-0123456789abcdef';

let a: TestGateway;
let b: TestGateway;

async function instanceOptions() {
  return { bus: await redisBus() };
}

beforeAll(async () => {
  a = await startGateway(CONFIG, {}, { services: await instanceOptions() });
  b = await startGateway(CONFIG, {}, { services: await instanceOptions(), share: a });
}, 60_000);
afterAll(async () => {
  await b?.close();
  await a?.close();
}, 60_000);

interface Answer {
  status: number;
  text: string;
  body: Record<string, unknown> & {
    error?: { code: string; param: string | null; message: string };
  };
}

async function call(method: string, path: string, key: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${a.url}/admin/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text) as Answer['body'] };
}

let count = 0;

/** A fresh tenant and keys of each role that matters here. */
async function newTenant() {
  const slug = `byok-${++count}`;
  const tenant = await a.services.tenants.create({ slug, name: slug });
  const key = async (role: 'owner' | 'admin' | 'member' | 'viewer') =>
    (await a.services.keys.create(slug, { name: role, role })).secret;
  return {
    slug,
    tenant,
    owner: await key('owner'),
    admin: await key('admin'),
    member: await key('member'),
    viewer: await key('viewer'),
    db: a.services.tenants.database(tenant),
  };
}

/** A provider key as a provider would issue it: long, random-looking. */
const secretKey = () => `sk-test-${newId('x').slice(2)}Zq9`;

describe('/admin/v1/tenants/{tenant}/provider-keys', () => {
  it('sets, replaces, lists and deletes a key, never showing it, each change audited', async () => {
    const { slug, tenant, owner, admin, db } = await newTenant();
    const first = secretKey();
    const created = await call('PUT', `/tenants/${slug}/provider-keys/upstream`, owner, {
      api_key: first,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ object: 'provider_key', provider: 'upstream' });
    expect(created.body.hint).toBe(first.slice(-4));
    expect(created.body.created_by).toMatch(/^key:key_/);
    expect(created.text).not.toContain(first);
    expect(await a.services.providerKeys.keyFor(tenant.id, 'upstream')).toBe(first);

    const second = secretKey();
    const replaced = await call('PUT', `/tenants/${slug}/provider-keys/upstream`, admin, {
      api_key: second,
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body.created_at).toBe(created.body.created_at);
    expect(replaced.body.updated_by).not.toBe(created.body.updated_by);
    expect(await a.services.providerKeys.keyFor(tenant.id, 'upstream')).toBe(second);

    const listed = await call('GET', `/tenants/${slug}/provider-keys`, owner);
    expect(listed.status).toBe(200);
    expect((listed.body.data as { provider: string }[]).map((key) => key.provider)).toEqual([
      'upstream',
    ]);
    for (const secret of [first, second]) expect(listed.text).not.toContain(secret);

    // At rest: sealed, with nothing of the key in the clear but its hint.
    const rows = await db.selectFrom('provider_keys').selectAll().execute();
    expect(rows).toHaveLength(1);
    const stored = JSON.stringify(rows);
    for (const secret of [first, second]) {
      expect(stored).not.toContain(secret);
      expect(stored).not.toContain(secret.slice(0, 12));
      expect(stored).not.toContain(Buffer.from(secret).toString('base64url').slice(0, 16));
    }
    expect(rows[0]?.secret_sealed).toMatch(/^d1\./);
    expect(rows[0]?.data_key_sealed).toMatch(/^v1\./);

    const deleted = await call('DELETE', `/tenants/${slug}/provider-keys/upstream`, owner);
    expect([deleted.status, deleted.body.provider]).toEqual([200, 'upstream']);
    expect(await a.services.providerKeys.keyFor(tenant.id, 'upstream')).toBeNull();
    const again = await call('DELETE', `/tenants/${slug}/provider-keys/upstream`, owner);
    expect([again.status, again.body.error?.code]).toEqual([404, 'provider_key_not_found']);

    const audit = { data: await auditJson(a.services, tenant.id, { action: 'provider_key.*' }) };
    expect(audit.data.map((entry) => entry.action)).toEqual([
      'provider_key.delete',
      'provider_key.set',
      'provider_key.set',
    ]);
    expect(audit.data.every((entry) => entry.target_id === 'upstream')).toBe(true);
    const entries = JSON.stringify(audit.data);
    for (const secret of [first, second]) expect(entries).not.toContain(secret);
    expect(entries).not.toContain(rows[0]?.secret_sealed);
    expect(entries).not.toContain(rows[0]?.data_key_sealed);
  });

  it('lets viewers list but not write; members neither', async () => {
    const { slug, owner, viewer, member } = await newTenant();
    await call('PUT', `/tenants/${slug}/provider-keys/byo`, owner, { api_key: secretKey() });
    const listed = await call('GET', `/tenants/${slug}/provider-keys`, viewer);
    expect([listed.status, (listed.body.data as unknown[]).length]).toEqual([200, 1]);
    for (const [key, method, path] of [
      [viewer, 'PUT', '/byo'],
      [viewer, 'DELETE', '/byo'],
      [member, 'GET', ''],
      [member, 'PUT', '/byo'],
    ] as const) {
      const body = method === 'PUT' ? { api_key: 'sk-refused-0000000000' } : undefined;
      const refused = await call(method, `/tenants/${slug}/provider-keys${path}`, key, body);
      expect([refused.status, refused.body.error?.code], `${method} ${path}`).toEqual([
        403,
        'permission_denied',
      ]);
    }
    const after = await a.services.providerKeys.list(slug);
    expect(after.map((key) => key.provider)).toEqual(['byo']);
  });

  it("keeps a tenant's key to that tenant", async () => {
    const acme = await newTenant();
    const globex = await newTenant();
    const secret = secretKey();
    await call('PUT', `/tenants/${acme.slug}/provider-keys/upstream`, acme.owner, {
      api_key: secret,
    });
    for (const [method, path] of [
      ['GET', ''],
      ['PUT', '/upstream'],
      ['DELETE', '/upstream'],
    ] as const) {
      const refused = await call(
        method,
        `/tenants/${acme.slug}/provider-keys${path}`,
        globex.owner,
        method === 'PUT' ? { api_key: secretKey() } : undefined,
      );
      expect([refused.status, refused.body.error?.code]).toEqual([403, 'permission_denied']);
      expect(refused.text).not.toContain(secret);
    }
    const own = await call('GET', `/tenants/${globex.slug}/provider-keys`, globex.owner);
    expect(own.body.data).toEqual([]);
    expect(await a.services.providerKeys.keyFor(globex.tenant.id, 'upstream')).toBeNull();
    expect(await a.services.providerKeys.keyFor(acme.tenant.id, 'upstream')).toBe(secret);
  });

  it('refuses unknown providers, providers without tenant keys and bad keys, storing nothing', async () => {
    const { slug, owner } = await newTenant();
    const unknown = await call('PUT', `/tenants/${slug}/provider-keys/nope`, owner, {
      api_key: secretKey(),
    });
    expect([unknown.status, unknown.body.error?.code, unknown.body.error?.param]).toEqual([
      404,
      'provider_not_found',
      'provider',
    ]);
    const platformOnly = await call('PUT', `/tenants/${slug}/provider-keys/mock`, owner, {
      api_key: secretKey(),
    });
    expect([platformOnly.status, platformOnly.body.error?.param]).toEqual([400, 'provider']);
    expect(platformOnly.body.error?.message).toContain('tenant_keys');
    for (const body of [
      {},
      { api_key: '' },
      { api_key: 'sk with spaces in it' },
      { api_key: 'sk-line\r\nx-injected: 1' },
      { api_key: 'x'.repeat(4097) },
      { api_key: 42 },
      { api_key: secretKey(), extra: true },
    ]) {
      const refused = await call('PUT', `/tenants/${slug}/provider-keys/upstream`, owner, body);
      expect([refused.status, refused.body.error?.code], JSON.stringify(body)).toEqual([
        400,
        'invalid_request',
      ]);
      if (typeof body.api_key === 'string' && body.api_key !== '')
        expect(refused.text).not.toContain(body.api_key);
    }
    expect(await a.services.providerKeys.list(slug)).toEqual([]);
  });
});

describe('keyFor', () => {
  it('answers null for providers without tenant keys, without looking anything up', async () => {
    // A tenant that does not exist would throw if it were looked up.
    expect(await a.services.providerKeys.keyFor('tnt_doesnotexist', 'mock')).toBeNull();
    expect(await a.services.providerKeys.keyFor('tnt_doesnotexist', 'nope')).toBeNull();
  });

  it('serves from memory once warm, and sees changes on another instance at once', async () => {
    const { slug, tenant, owner, db } = await newTenant();
    const first = secretKey();
    await call('PUT', `/tenants/${slug}/provider-keys/upstream`, owner, { api_key: first });
    expect(await b.services.providerKeys.keyFor(tenant.id, 'upstream')).toBe(first);
    expect(await b.services.providerKeys.keyFor(tenant.id, 'byo')).toBeNull();
    // Removed behind the instances' backs, unannounced: B does not look again.
    await db.deleteFrom('provider_keys').execute();
    expect(await b.services.providerKeys.keyFor(tenant.id, 'upstream')).toBe(first);

    const second = secretKey();
    await call('PUT', `/tenants/${slug}/provider-keys/upstream`, owner, { api_key: second });
    await eventually(
      async () => expect(await b.services.providerKeys.keyFor(tenant.id, 'upstream')).toBe(second),
      2000,
    );
    await call('DELETE', `/tenants/${slug}/provider-keys/upstream`, owner);
    await eventually(
      async () => expect(await b.services.providerKeys.keyFor(tenant.id, 'upstream')).toBeNull(),
      2000,
    );
  });

  it('refuses a sealed key copied to another tenant or another provider', async () => {
    const acme = await newTenant();
    const globex = await newTenant();
    const secret = secretKey();
    await call('PUT', `/tenants/${acme.slug}/provider-keys/upstream`, acme.owner, {
      api_key: secret,
    });
    const row = await acme.db.selectFrom('provider_keys').selectAll().executeTakeFirstOrThrow();
    await globex.db.insertInto('provider_keys').values(row).execute();
    await acme.db
      .insertInto('provider_keys')
      .values({ ...row, provider: 'byo' })
      .execute();
    for (const tenant of [acme.tenant, globex.tenant])
      await a.services.bus.publish({ tenantId: tenant.id });

    const unreadable = async (tenantId: string, provider: string) => {
      const error = await a.services.providerKeys.keyFor(tenantId, provider).then(
        () => null,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(GatewayError);
      expect(error).toMatchObject({ code: 'provider_key_unreadable', status: 500 });
      expect(String((error as Error).message)).not.toContain(secret);
    };
    await unreadable(globex.tenant.id, 'upstream');
    await unreadable(acme.tenant.id, 'byo');
    // The original still opens.
    expect(await a.services.providerKeys.keyFor(acme.tenant.id, 'upstream')).toBe(secret);
  });
});

/** A provider key service over the test databases, with the given master keys. */
function serviceWith(current: string, previous: string | null = null) {
  return new ProviderKeyService({
    tenants: a.services.tenants,
    ring: KeyRing.derive(current, previous, PROVIDER_KEYS_PURPOSE),
    changes: new ChangeRecorder(),
    tenantKeyProviders: PROVIDER_KEYS.tenantKeyProviders,
  });
}

/** A webhook row whose secrets are sealed under `masterKey`, as the webhook service seals them. */
async function sealedWebhook(db: Kysely<TestServicesDb>, masterKey: string) {
  const ring = KeyRing.derive(masterKey, null, WEBHOOK_SECRETS_PURPOSE);
  const id = newId('whk');
  await db
    .insertInto('webhook_endpoints')
    .values({
      id,
      url: 'https://hooks.example.com/x',
      event_types: ['quota.*'],
      secret_sealed: ring.seal('whsec_current', id),
      previous_secret_sealed: ring.seal('whsec_previous', id),
      previous_secret_expires_at: new Date(Date.now() + 60_000),
    })
    .execute();
  return id;
}
type TestServicesDb =
  ReturnType<TestServices['tenants']['database']> extends Kysely<infer S> ? S : never;

describe('rotating MASTER_KEY', () => {
  // `secrets rewrap` runs as a process of the built CLI.
  useBuiltCli();
  it('opens nothing under a wrong master key, with a clear error instead of garbage', async () => {
    const { slug, tenant, owner } = await newTenant();
    const secret = secretKey();
    await call('PUT', `/tenants/${slug}/provider-keys/upstream`, owner, { api_key: secret });
    const wrong = serviceWith(NEW_MASTER_KEY);
    const error = await wrong.keyFor(tenant.id, 'upstream').catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: 'provider_key_unreadable' });
    expect(String((error as Error).cause)).toContain('neither MASTER_KEY nor MASTER_KEY_PREVIOUS');
    const failed = await wrong.rewrap(slug);
    expect(failed).toMatchObject({ rewrapped: 0, current: 0 });
    expect(failed.failed.map((item) => item.id)).toEqual(['upstream']);
  });

  it('rewrap re-seals the data keys and webhook secrets under the new key', async () => {
    const { slug, tenant, owner, db } = await newTenant();
    const secret = secretKey();
    await call('PUT', `/tenants/${slug}/provider-keys/byo`, owner, { api_key: secret });
    const webhookId = await sealedWebhook(db, TEST_MASTER_KEY);
    const before = await db.selectFrom('provider_keys').selectAll().executeTakeFirstOrThrow();

    // During the rotation: the new key current, the old one previous; both open.
    const rotating = serviceWith(NEW_MASTER_KEY, TEST_MASTER_KEY);
    expect(await rotating.keyFor(tenant.id, 'byo')).toBe(secret);
    const lines: string[] = [];
    const complete = await runSecretsCommand(
      ['rewrap', '--tenant', slug],
      {
        tenants: a.services.tenants,
        providerKeys: rotating,
        webhookRing: KeyRing.derive(NEW_MASTER_KEY, TEST_MASTER_KEY, WEBHOOK_SECRETS_PURPOSE),
        control: (a.services as TestServices).backend.control as Kysely<unknown>,
      },
      { line: (text) => lines.push(text) },
    );
    expect(complete).toBe(true);
    expect(lines[0]).toBe(
      `tenant 1/1 ${slug}: provider keys 1 rewrapped, 0 current, 0 failed; webhook secrets 1 rewrapped, 0 current, 0 failed`,
    );
    expect(lines.join('\n')).not.toContain(secret);

    const after = await db.selectFrom('provider_keys').selectAll().executeTakeFirstOrThrow();
    // Envelope encryption: only the data key was re-sealed.
    expect(after.secret_sealed).toBe(before.secret_sealed);
    expect(after.data_key_sealed).not.toBe(before.data_key_sealed);
    // After the rewrap the new key alone opens everything.
    expect(await serviceWith(NEW_MASTER_KEY).keyFor(tenant.id, 'byo')).toBe(secret);
    const webhook = await db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', webhookId)
      .executeTakeFirstOrThrow();
    const newRing = KeyRing.derive(NEW_MASTER_KEY, null, WEBHOOK_SECRETS_PURPOSE);
    expect(newRing.open(webhook.secret_sealed, webhookId)).toBe('whsec_current');
    expect(newRing.open(webhook.previous_secret_sealed ?? '', webhookId)).toBe('whsec_previous');
    // And the old one no longer does.
    const old = await serviceWith(TEST_MASTER_KEY)
      .keyFor(tenant.id, 'byo')
      .catch((thrown: unknown) => thrown);
    expect(old).toMatchObject({ code: 'provider_key_unreadable' });

    // Again: nothing left to do.
    expect(await rotating.rewrap(slug)).toEqual({ rewrapped: 0, current: 1, failed: [] });
    const audit = {
      data: await auditJson(a.services, null, { action: 'secrets.rewrap', limit: 1 }),
    };
    expect(audit.data[0]?.after).toMatchObject({ tenants: 1, rewrapped: 2, failed: 0 });
  });

  it('keeps API keys made under the previous master key working while it is set', async () => {
    const { slug, owner } = await newTenant();
    const control = (a.services as TestServices).backend.control;
    const keysWith = (previous: string | null) => {
      const hasher = new ApiKeyHasher(deriveKey(NEW_MASTER_KEY, 'api-key-hash'));
      const previousHasher =
        previous === null ? undefined : new ApiKeyHasher(deriveKey(previous, 'api-key-hash'));
      const platformKeys = new PlatformKeyService({ control, hasher });
      return new KeyService({
        tenants: a.services.tenants,
        control,
        hasher,
        previousHasher,
        platformKeys,
        changes: new ChangeRecorder(),
      });
    };
    const rotating = keysWith(TEST_MASTER_KEY);
    expect(await rotating.resolve(owner)).toMatchObject({ kind: 'tenant', role: 'owner' });
    expect(await rotating.resolve(a.adminKey)).toMatchObject({ kind: 'platform' });
    await expect(keysWith(null).resolve(owner)).rejects.toMatchObject({ code: 'invalid_api_key' });
    // Rotating the key stores it under the new master key; its old secret lasts the grace.
    const [key] = await rotating.list(slug);
    const rotated = await rotating.rotate(slug, key?.id ?? '', 60);
    expect(await keysWith(null).resolve(rotated.secret)).toMatchObject({ keyId: key?.id });
    expect(await rotating.resolve(owner)).toMatchObject({ keyId: key?.id });
  });

  it('works as `llm-backend secrets rewrap`', async () => {
    const backend = (a.services as TestServices).backend;
    const { slug, tenant, owner, db } = await newTenant();
    const secret = secretKey();
    await call('PUT', `/tenants/${slug}/provider-keys/upstream`, owner, { api_key: secret });
    const env = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: backend.url ?? '',
      MASTER_KEY: NEW_MASTER_KEY,
      MASTER_KEY_PREVIOUS: TEST_MASTER_KEY,
      CONFIG_FILE: writeConfigFile(CONFIG),
      DATA_DIR: mkdtempSync(join(tmpdir(), 'llm-backend-secrets-')),
      LOG_LEVEL: 'silent',
      TEST_UPSTREAM_KEY: 'unused',
    };
    const entry = await builtCli();
    const cli = (...args: string[]) =>
      promisify(execFile)(process.execPath, [entry, ...args], {
        cwd: new URL('../..', import.meta.url).pathname,
        env,
      });
    // A row that opens under neither key (copied from another provider) is reported, not rewritten.
    const damaged = await newTenant();
    const row = await db.selectFrom('provider_keys').selectAll().executeTakeFirstOrThrow();
    await damaged.db
      .insertInto('provider_keys')
      .values({ ...row, provider: 'byo' })
      .execute();
    const all = await cli('secrets', 'rewrap').catch(
      (error: { code: number; stdout: string }) => error,
    );
    expect(all).toMatchObject({ code: 1 });
    expect(all.stdout).toMatch(
      new RegExp(`${slug}: provider keys 1 rewrapped, 0 current, 0 failed`),
    );
    expect(all.stdout).toMatch(
      new RegExp(
        `${damaged.slug}: provider keys 0 rewrapped, 0 current, 1 failed.*\n  failed provider key byo: does not open`,
      ),
    );
    expect(all.stdout).not.toContain(secret);
    expect(await serviceWith(NEW_MASTER_KEY).keyFor(tenant.id, 'upstream')).toBe(secret);
    await damaged.db.deleteFrom('provider_keys').execute();
    const { stdout } = await cli('secrets', 'rewrap', '--tenant', slug);
    expect(stdout).toContain(`${slug}: provider keys 0 rewrapped, 1 current, 0 failed`);
    expect(stdout).toMatch(/^done: 0 rewrapped, 0 failed$/m);
    const bad = await cli('secrets', 'rewrap', '--tenant', 'no-such-tenant').catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(bad).toMatchObject({ code: 1 });
  }, 60_000);
});
