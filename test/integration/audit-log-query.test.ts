import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Actor,
  type AuditPage,
  type AuditQuery,
  appendAudit,
  listAudit,
} from '../../src/services/audit/audit-log.js';
import { BACKENDS } from '../helpers/databases.js';
import { useUpstreamGateway } from '../helpers/gateway.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

const START = Date.parse('2026-01-01T00:00:00.000Z');
/** Entry i happens i minutes after START. */
const minute = (i: number) => new Date(START + i * 60_000);

const alice: Actor = { type: 'cli', id: 'alice' };
const bob: Actor = { type: 'cli', id: 'bob' };
const admin: Actor = { type: 'key', id: 'key_admin' };
const other: Actor = { type: 'key', id: 'key_other' };
const system: Actor = { type: 'system', id: null };

/**
 * Ten entries in order; each one's request id is `r<index>`, so a result reads as the list
 * of indexes. 'apixkey.create' would match 'api_key.%' if the prefix were a LIKE pattern.
 */
const ENTRIES: [Actor, string, string, string][] = [
  [alice, 'api_key.create', 'api_key', 'key_a'],
  [admin, 'api_key.rotate', 'api_key', 'key_a'],
  [admin, 'user.create', 'user', 'usr_1'],
  [alice, 'api_key.revoke', 'api_key', 'key_a'],
  [system, 'user.disable', 'user', 'usr_1'],
  [admin, 'api_key.create', 'api_key', 'key_b'],
  [bob, 'user.update', 'user', 'usr_1'],
  [other, 'apixkey.create', 'apixkey', 'key_c'],
  [admin, 'api_key.revoke', 'api_key', 'key_b'],
  [alice, 'tenant.update', 'tenant', 'tnt_1'],
];

async function seed(db: Kysely<unknown>): Promise<void> {
  for (const [i, [actor, action, targetType, targetId]] of ENTRIES.entries()) {
    await appendAudit(
      db,
      'audit_log',
      { ...actor, requestId: `r${i}` },
      { action, targetType, targetId, after: { index: i, nested: { tags: ['a', i] } } },
      minute(i),
    );
  }
}

const indexes = (page: AuditPage) => page.data.map((entry) => Number(entry.request_id?.slice(1)));

describe.each(BACKENDS)('listAudit filters and pages on %s', (kind) => {
  let services: TestServices;
  let db: Kysely<unknown>;
  const list = (query: AuditQuery = {}) => listAudit(db, 'audit_log', query);

  beforeAll(async () => {
    services = await servicesOn(kind);
    const tenant = await services.tenants.create({ slug: 'acme', name: 'Acme' });
    db = services.tenants.database(tenant) as Kysely<unknown>;
    await seed(db);
  }, 60_000);
  afterAll(() => services?.close(), 60_000);

  it('lists everything newest first, with the target before and after', async () => {
    const page = await list();
    expect(indexes(page)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(page.hasMore).toBe(false);
    expect(page.data[9]).toEqual({
      id: expect.stringMatching(/^aud_/),
      at: minute(0),
      actor_type: 'cli',
      actor_id: 'alice',
      action: 'api_key.create',
      target_type: 'api_key',
      target_id: 'key_a',
      before: null,
      after: { index: 0, nested: { tags: ['a', 0] } },
      ip: null,
      user_agent: null,
      request_id: 'r0',
    });
  });

  it('filters by actor', async () => {
    expect(indexes(await list({ actorId: 'alice' }))).toEqual([9, 3, 0]);
    expect(indexes(await list({ actorType: 'key' }))).toEqual([8, 7, 5, 2, 1]);
    expect(indexes(await list({ actorType: 'system' }))).toEqual([4]);
    expect(indexes(await list({ actorType: 'cli', actorId: 'bob' }))).toEqual([6]);
    expect(indexes(await list({ actorType: 'key', actorId: 'alice' }))).toEqual([]);
  });

  it('filters by exact action or by prefix', async () => {
    expect(indexes(await list({ action: 'api_key.create' }))).toEqual([5, 0]);
    expect(indexes(await list({ action: 'api_key.*' }))).toEqual([8, 5, 3, 1, 0]);
    expect(indexes(await list({ action: 'user.*' }))).toEqual([6, 4, 2]);
    expect(indexes(await list({ action: 'api_key' }))).toEqual([]);
    // A '%' or '_' in the prefix is text, not a wildcard.
    expect(indexes(await list({ action: 'api%.*' }))).toEqual([]);
  });

  it('filters by target', async () => {
    expect(indexes(await list({ targetType: 'user' }))).toEqual([6, 4, 2]);
    expect(indexes(await list({ targetId: 'key_a' }))).toEqual([3, 1, 0]);
    expect(indexes(await list({ targetType: 'api_key', targetId: 'key_b' }))).toEqual([8, 5]);
  });

  it('filters by time: since inclusive, until exclusive', async () => {
    expect(indexes(await list({ since: minute(7) }))).toEqual([9, 8, 7]);
    expect(indexes(await list({ until: minute(2) }))).toEqual([1, 0]);
    expect(indexes(await list({ since: minute(2), until: minute(5) }))).toEqual([4, 3, 2]);
    expect(
      indexes(await list({ since: minute(2), until: minute(9), action: 'api_key.*' })),
    ).toEqual([8, 5, 3]);
    expect(indexes(await list({ since: minute(10) }))).toEqual([]);
  });

  it('walks every entry exactly once, page by page', async () => {
    for (const [limit, expected] of [
      [3, [[9, 8, 7], [6, 5, 4], [3, 2, 1], [0]]],
      [
        5,
        [
          [9, 8, 7, 6, 5],
          [4, 3, 2, 1, 0],
        ],
      ],
      [20, [[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]],
    ] as const) {
      const pages: number[][] = [];
      const more: boolean[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await list({ limit, after });
        pages.push(indexes(page));
        more.push(page.hasMore);
        if (!page.hasMore) break;
        after = page.data.at(-1)?.id;
      }
      expect(pages).toEqual(expected);
      expect(more).toEqual(expected.map((_, i) => i < expected.length - 1));
    }
  });

  it('pages through a filtered list', async () => {
    const first = await list({ actorType: 'key', limit: 2 });
    expect([indexes(first), first.hasMore]).toEqual([[8, 7], true]);
    const second = await list({ actorType: 'key', limit: 2, after: first.data[1]?.id });
    expect([indexes(second), second.hasMore]).toEqual([[5, 2], true]);
    const third = await list({ actorType: 'key', limit: 2, after: second.data[1]?.id });
    expect([indexes(third), third.hasMore]).toEqual([[1], false]);
  });

  it('refuses a cursor that names no entry', async () => {
    await expect(list({ after: 'aud_000000000ffffffffffffffff' })).rejects.toMatchObject({
      code: 'invalid_request',
      status: 400,
      param: 'after',
    });
  });
});

describe('GET /admin/v1/tenants/{tenant}/audit-logs with filters', () => {
  const { gateway } = useUpstreamGateway();
  const get = (query: string, key?: string) =>
    gateway.fetch(
      `/admin/v1/tenants/test/audit-logs?${query}`,
      key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } },
    );
  const getJson = async (query: string) => {
    const response = await get(query);
    expect(response.status).toBe(200);
    return (await response.json()) as {
      object: string;
      data: Record<string, unknown>[];
      first_id: string | null;
      last_id: string | null;
      has_more: boolean;
    };
  };

  beforeAll(async () => {
    const tenant = await gateway.services.tenants.get('test');
    // Dated long before the provisioning entries, so time filters single out the seeded ones.
    await seed(gateway.services.tenants.database(tenant) as Kysely<unknown>);
  }, 30_000);

  it('filters, pages by cursor and keeps the before and after objects', async () => {
    const first = await getJson('action=api_key.*&actor_type=key&limit=2');
    expect(first).toMatchObject({ object: 'list', has_more: true });
    expect(first.data.map((entry) => entry.request_id)).toEqual(['r8', 'r5']);
    expect(first.first_id).toBe(first.data[0]?.id);
    expect(first.last_id).toBe(first.data[1]?.id);
    expect(first.data[0]).toEqual({
      object: 'audit_log',
      id: expect.stringMatching(/^aud_/),
      at: minute(8).toISOString(),
      actor_type: 'key',
      actor_id: 'key_admin',
      action: 'api_key.revoke',
      target_type: 'api_key',
      target_id: 'key_b',
      before: null,
      after: { index: 8, nested: { tags: ['a', 8] } },
      ip: null,
      user_agent: null,
      request_id: 'r8',
    });
    const second = await getJson(`action=api_key.*&actor_type=key&limit=2&after=${first.last_id}`);
    expect(second.data.map((entry) => entry.request_id)).toEqual(['r1']);
    expect(second.has_more).toBe(false);

    const window = await getJson(
      `since=${minute(2).toISOString()}&until=${encodeURIComponent('2026-01-01T01:05:00+01:00')}&target_type=user`,
    );
    expect(window.data.map((entry) => entry.request_id)).toEqual(['r4', 'r2']);
    expect((await getJson('target_id=key_a&actor_id=alice')).data.length).toBe(2);
  });

  it('answers an empty page with null ids', async () => {
    expect(await getJson('target_id=nothing-here')).toEqual({
      object: 'list',
      data: [],
      first_id: null,
      last_id: null,
      has_more: false,
    });
  });

  it('refuses bad times, unknown cursors and unknown filters in OpenAI’s error shape', async () => {
    for (const [query, param] of [
      ['since=yesterday', 'since'],
      ['until=2026-01-01', 'until'],
      ['actor_type=robot', 'actor_type'],
      ['after=aud_unknown', 'after'],
    ] as const) {
      const response = await get(query);
      expect(response.status, query).toBe(400);
      expect(await response.json()).toEqual({
        error: {
          message: expect.any(String),
          type: 'invalid_request_error',
          param,
          code: 'invalid_request',
        },
      });
    }
    expect((await get('verb=api_key.create')).status).toBe(400);
  });

  it('is for owners and admins only', async () => {
    for (const role of ['viewer', 'member'] as const) {
      const { secret } = await gateway.services.keys.create('test', { name: role, role });
      const response = await get('limit=1', secret);
      expect(response.status, role).toBe(403);
      expect(await response.json()).toMatchObject({ error: { code: 'permission_denied' } });
    }
    const { secret } = await gateway.services.keys.create('test', { name: 'adm', role: 'admin' });
    expect((await get('limit=1', secret)).status).toBe(200);
  });

  it('describes the entries in the OpenAPI document', async () => {
    const spec = (await (await gateway.fetch('/openapi.json')).json()) as {
      paths: Record<string, { get?: { responses?: Record<string, unknown> } }>;
    };
    const path = Object.keys(spec.paths).find((p) => p.includes('/audit-logs'));
    const ok = JSON.stringify(spec.paths[path ?? '']?.get?.responses?.['200']);
    for (const field of ['first_id', 'has_more', 'actor_type', 'user_agent', 'request_id'])
      expect(ok).toContain(field);
  });
});
