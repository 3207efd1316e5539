import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.js';
import type { BackendKind } from '../helpers/databases.js';
import { FakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { expectOpenAISchema } from '../helpers/openai-schema.js';

/**
 * OpenAI's Files API through the official SDK, on PostgreSQL and on the embedded PGlite:
 * upload, list, retrieve, content and delete; bad uploads refused and changing nothing;
 * another tenant's file ids not found.
 */
const MAX_BYTES = 64 * 1024;
const QUOTA_BYTES = 160 * 1024;
const KINDS: BackendKind[] = ['postgres', 'pglite'];

const jsonl = (lines: number) =>
  Buffer.from(
    Array.from({ length: lines }, (_, i) =>
      JSON.stringify({
        custom_id: `line-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'gpt-test', messages: [{ role: 'user', content: `héllo ${i}` }] },
      }),
    ).join('\n'),
  );

describe.each(KINDS)('the Files API on %s', (database) => {
  const upstream = new FakeUpstream();
  let gateway: TestGateway;

  beforeAll(async () => {
    await upstream.start();
    gateway = await startGateway(
      upstreamConfig(upstream.url),
      { FILES_MAX_BYTES: String(MAX_BYTES), FILES_TENANT_QUOTA_BYTES: String(QUOTA_BYTES) },
      { database },
    );
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await upstream.stop();
  }, 60_000);

  let tenants = 0;
  /** A tenant of its own per test, so no test sees what another stored. */
  const freshTenant = async () => {
    const slug = `files-${database}-${++tenants}`;
    await gateway.services.tenants.create({ slug, name: slug });
    const { secret } = await gateway.services.keys.create(slug, { name: 'owner', role: 'owner' });
    const client = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const fetchAs = (path: string, init: RequestInit = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${secret}`);
      return fetch(`${gateway.url}${path}`, { ...init, headers });
    };
    const remove = async (ids: string[]) => {
      for (const id of ids) await client.files.delete(id);
    };
    return { slug, client, fetch: fetchAs, remove };
  };

  it('uploads, lists, retrieves, reads back and deletes a file, byte for byte', async () => {
    const t = await freshTenant();
    // Larger than one stored chunk would be at a smaller size: several lines, multi-byte text.
    const content = jsonl(200);
    const file = await t.client.files.create({
      file: await toFile(content, 'input.jsonl'),
      purpose: 'batch',
    });
    expect(file).toMatchObject({
      object: 'file',
      bytes: content.length,
      filename: 'input.jsonl',
      purpose: 'batch',
      status: 'processed',
    });
    expect(file.id).toMatch(/^file_/);
    expectOpenAISchema('OpenAIFile', file);
    expect(await t.client.files.retrieve(file.id)).toEqual(file);
    const body = Buffer.from(await (await t.client.files.content(file.id)).arrayBuffer());
    expect(body.equals(content)).toBe(true);
    const listed = (await (await t.fetch('/v1/files')).json()) as { data: { id: string }[] };
    expectOpenAISchema('ListFilesResponse', listed);
    expect(listed.data.map((f) => f.id)).toContain(file.id);
    const deleted = await t.client.files.delete(file.id);
    expectOpenAISchema('DeleteFileResponse', deleted);
    expect(deleted).toEqual({
      id: file.id,
      object: 'file',
      deleted: true,
    });
    expect((await apiError(t.client.files.retrieve(file.id))).status).toBe(404);
    expect((await apiError(t.client.files.content(file.id))).status).toBe(404);
    expect((await apiError(t.client.files.delete(file.id))).status).toBe(404);
  });

  it('pages through the list newest first, or oldest first, and filters by purpose', async () => {
    const t = await freshTenant();
    const ids: string[] = [];
    for (const name of ['a', 'b', 'c'])
      ids.push(
        (
          await t.client.files.create({
            file: await toFile(jsonl(1), `${name}.jsonl`),
            purpose: 'batch',
          })
        ).id,
      );
    const first = await t.fetch('/v1/files?limit=2&order=asc');
    const page = (await first.json()) as { data: { id: string }[]; has_more: boolean };
    expect(page.data.map((f) => f.id)).toEqual(ids.slice(0, 2));
    expect(page.has_more).toBe(true);
    const next = (await (await t.fetch(`/v1/files?limit=2&order=asc&after=${ids[1]}`)).json()) as {
      data: { id: string }[];
      has_more: boolean;
    };
    expect(next.data.map((f) => f.id)).toEqual([ids[2]]);
    expect(next.has_more).toBe(false);
    const desc = (await (await t.fetch('/v1/files')).json()) as { data: { id: string }[] };
    expect(desc.data.map((f) => f.id)).toEqual([...ids].reverse());
    const none = (await (await t.fetch('/v1/files?purpose=fine-tune')).json()) as {
      data: unknown[];
    };
    expect(none.data).toEqual([]);
    await t.remove(ids);
  });

  it('refuses bad uploads with a 4xx naming the field, and stores nothing', async () => {
    const t = await freshTenant();
    const refusals: [() => Promise<unknown>, number, string | null][] = [
      [
        async () =>
          t.client.files.create({
            file: await toFile(jsonl(1), 'x.jsonl'),
            purpose: 'fine-tune',
          }),
        400,
        'purpose',
      ],
      [
        async () =>
          t.client.files.create({
            file: await toFile(Buffer.alloc(0), 'x.jsonl'),
            purpose: 'batch',
          }),
        400,
        'file',
      ],
      [
        async () =>
          t.client.files.create({
            file: await toFile(Buffer.from([0xff, 0xfe, 0x0a]), 'x.jsonl'),
            purpose: 'batch',
          }),
        400,
        'file',
      ],
      [
        async () =>
          t.client.files.create({ file: await toFile(jsonl(1), 'x.csv'), purpose: 'batch' }),
        400,
        'file',
      ],
      [
        async () =>
          t.client.files.create({
            file: await toFile(Buffer.alloc(MAX_BYTES + 1, 0x61), 'x.jsonl'),
            purpose: 'batch',
          }),
        413,
        'file',
      ],
    ];
    for (const name of ['a\u0000.jsonl', `${'n'.repeat(600)}.jsonl`])
      refusals.push([
        async () => t.client.files.create({ file: await toFile(jsonl(1), name), purpose: 'batch' }),
        400,
        'file',
      ]);
    for (const [call, status, param] of refusals) {
      const error = await apiError(call());
      expect([error.status, error.param]).toEqual([status, param]);
    }
    // Far past the limit: refused while it arrives, before the form is parsed.
    const huge = await apiError(
      t.client.files.create({
        file: await toFile(Buffer.alloc(MAX_BYTES * 4, 0x61), 'x.jsonl'),
        purpose: 'batch',
      }),
    );
    expect(huge.status).toBe(413);
    const form = new FormData();
    form.set('purpose', 'batch');
    const missing = await t.fetch('/v1/files', { method: 'POST', body: form });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { param: string } }).error.param).toBe('file');
    const broken = await t.fetch('/v1/files', {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
      body: '--xyz\r\nnot a part',
    });
    expect(broken.status).toBe(400);
    const asJson = await t.fetch('/v1/files', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ purpose: 'batch' }),
    });
    expect(asJson.status).toBe(400);
    for (const path of ['/v1/files?purpose=a%00', '/v1/files/file_a%00b', '/v1/files?after=%00'])
      expect((await t.fetch(path)).status, path).toBe(400);
    expect((await t.client.files.list()).data).toEqual([]);
    // The server goes on.
    const ok = await t.client.files.create({
      file: await toFile(jsonl(1), 'x.jsonl'),
      purpose: 'batch',
    });
    await t.remove([ok.id]);
  });

  it("keeps to the tenant's storage quota, and frees room on delete", async () => {
    const t = await freshTenant();
    const other = (await freshTenant()).client;
    const big = Buffer.alloc(MAX_BYTES - 10, 0x61);
    const kept = [];
    for (let i = 0; i < 2; i++)
      kept.push(
        await t.client.files.create({
          file: await toFile(big, `big-${i}.jsonl`),
          purpose: 'batch',
        }),
      );
    const over = await apiError(
      t.client.files.create({ file: await toFile(big, 'big-2.jsonl'), purpose: 'batch' }),
    );
    expect([over.status, over.code]).toEqual([400, 'file_storage_exceeded']);
    // Another tenant's quota is its own.
    const theirs = await other.files.create({
      file: await toFile(big, 'b.jsonl'),
      purpose: 'batch',
    });
    await other.files.delete(theirs.id);
    await t.remove([kept[0]?.id ?? '']);
    const after = await t.client.files.create({
      file: await toFile(big, 'big-3.jsonl'),
      purpose: 'batch',
    });
    await t.remove([kept[1]?.id ?? '', after.id]);
    // Uploads at the same moment take turns: exactly as many fit as would one after another.
    const racing = await Promise.allSettled(
      [0, 1, 2, 3].map(async (i) =>
        t.client.files.create({
          file: await toFile(big, `race-${i}.jsonl`),
          purpose: 'batch',
        }),
      ),
    );
    const stored = racing.flatMap((result) =>
      result.status === 'fulfilled' ? [result.value.id] : [],
    );
    expect(stored).toHaveLength(2);
    for (const result of racing)
      if (result.status === 'rejected')
        expect((result.reason as { code?: string }).code).toBe('file_storage_exceeded');
    await t.remove(stored);
  });

  it('needs the inference permission, for reading files too', async () => {
    const t = await freshTenant();
    const ours = await t.client.files.create({
      file: await toFile(jsonl(1), 'ours.jsonl'),
      purpose: 'batch',
    });
    const { secret } = await gateway.services.keys.create(t.slug, { name: 'v', role: 'viewer' });
    const viewer = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    for (const call of [
      () => viewer.files.list(),
      () => viewer.files.retrieve(ours.id),
      () => viewer.files.content(ours.id),
      () => viewer.files.delete(ours.id),
      async () =>
        viewer.files.create({ file: await toFile(jsonl(1), 'v.jsonl'), purpose: 'batch' }),
    ]) {
      const error = await apiError(call());
      expect([error.status, error.code]).toEqual([403, 'permission_denied']);
    }
    expect((await t.client.files.list()).data.map((f) => f.id)).toEqual([ours.id]);
    await t.remove([ours.id]);
  });

  it('describes the upload as multipart/form-data in the served OpenAPI document', async () => {
    const doc = (await (await fetch(`${gateway.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, unknown> } }>>;
    };
    expect(Object.keys(doc.paths['/v1/files']?.post?.requestBody?.content ?? {})).toEqual([
      'multipart/form-data',
    ]);
    expect(Object.keys(doc.paths['/v1/files/{file_id}'] ?? {}).sort()).toEqual(['delete', 'get']);
    expect(doc.paths['/v1/files/{file_id}/content']?.get).toBeDefined();
  });

  it("answers 404 for another tenant's file, and lists none of it", async () => {
    const t = await freshTenant();
    const other = (await freshTenant()).client;
    const ours = await t.client.files.create({
      file: await toFile(jsonl(1), 'ours.jsonl'),
      purpose: 'batch',
    });
    // Thunks: each call starts only when its failure is awaited.
    for (const call of [
      () => other.files.retrieve(ours.id),
      () => other.files.content(ours.id),
      () => other.files.delete(ours.id),
    ]) {
      const error = await apiError(call());
      expect([error.status, error.code]).toEqual([404, 'file_not_found']);
    }
    expect((await other.files.list()).data).toEqual([]);
    expect((await t.client.files.retrieve(ours.id)).id).toBe(ours.id);
    await t.remove([ours.id]);
  });
});
