import { randomBytes } from 'node:crypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/storage/migrations/index.js';
import {
  type NewSemanticCacheEntry,
  SemanticCacheRepository,
} from '../../src/storage/repositories/semantic-cache.js';
import type { TenantSchema } from '../../src/storage/tenant-schema.js';
import { BACKENDS } from '../helpers/databases.js';
import { eventually } from '../helpers/gateway.js';
import { TEST_DATABASE_URL } from '../helpers/services.js';
import { servicesOn, type TestServices } from '../helpers/tenant-services.js';

const NOW = new Date('2026-11-02T10:00:00.000Z');
const LATER = new Date('2026-11-02T11:00:00.000Z');
const USAGE = {
  promptTokens: 7,
  completionTokens: 5,
  cachedTokens: 0,
  totalTokens: 12,
  estimated: false,
};

function entry(embedding: number[], extra: Partial<NewSemanticCacheEntry> = {}) {
  return {
    model: 'mock-chat',
    embeddingModel: 'mock-embedding',
    embedding,
    paramsDigest: 'params',
    textDigest: 'digest',
    response: { id: 'chatcmpl-1', choices: [{ message: { content: 'Paris' } }] },
    usage: USAGE,
    createdAt: NOW,
    expiresAt: LATER,
    ...extra,
  };
}

describe.each(BACKENDS)('semantic cache storage on %s', (kind) => {
  let services: TestServices;
  let tenants = 0;

  beforeAll(async () => {
    services = await servicesOn(kind);
  }, 90_000);
  afterAll(() => services?.close(), 60_000);

  /** A tenant of its own per test, so no test sees another's entries. */
  async function tenantDatabase() {
    tenants += 1;
    const slug = `t${tenants}`;
    return services.tenants.database(await services.tenants.create({ slug, name: slug }));
  }
  const repository = async () => new SemanticCacheRepository(await tenantDatabase());

  const query = (embedding: number[], minSimilarity: number, now = NOW) => ({
    model: 'mock-chat',
    paramsDigest: 'params',
    embeddingModel: 'mock-embedding',
    embedding,
    minSimilarity,
    now,
  });

  it('finds the most similar entry by cosine similarity, only above the threshold', async () => {
    const cache = await repository();
    expect(await cache.prepare()).toBe(true);
    const near = await cache.insert(entry([1, 0, 0], { textDigest: 'near' }));
    await cache.insert(entry([0, 1, 0], { textDigest: 'far' }));
    expect(near.bytes).toBe(Buffer.byteLength(JSON.stringify(near.response)));

    const found = await cache.nearest(query([0.9, 0.1, 0], 0.9));
    expect(found?.entry).toEqual(near);
    expect(found?.similarity).toBeCloseTo(0.9 / Math.hypot(0.9, 0.1), 6);
    expect(found?.entry.usage).toEqual(USAGE);
    // Cosine similarity ignores length: a scaled vector is the same direction.
    expect((await cache.nearest(query([3, 0, 0], 0.999)))?.entry.id).toBe(near.id);
    expect(await cache.nearest(query([0.7, 0.7, 0], 0.9))).toBeNull();
  });

  it('answers only within its model, request fields, embedding model and vector length', async () => {
    const cache = await repository();
    await cache.insert(entry([1, 0, 0]));
    await cache.insert(entry([1, 0], { model: 'other-chat' }));
    expect(await cache.nearest({ ...query([1, 0, 0], 0.5), model: 'other-chat' })).toBeNull();
    expect(await cache.nearest({ ...query([1, 0, 0], 0.5), paramsDigest: 'other' })).toBeNull();
    expect(await cache.nearest({ ...query([1, 0, 0], 0.5), embeddingModel: 'other' })).toBeNull();
    // A query of another length skips vectors it cannot be compared with, without an error.
    expect((await cache.nearest({ ...query([1, 0], 0.5), model: 'other-chat' }))?.similarity).toBe(
      1,
    );
    expect(await cache.nearest(query([1, 0], 0.5))).toBeNull();
  });

  it('never returns an expired entry; purges expired ones, then all', async () => {
    const cache = await repository();
    await cache.insert(entry([1, 0], { expiresAt: NOW }));
    const live = await cache.insert(entry([1, 0.01], { expiresAt: LATER }));
    expect((await cache.nearest(query([1, 0], 0.5)))?.entry.id).toBe(live.id);
    expect(await cache.nearest(query([1, 0], 0.5, LATER))).toBeNull();
    expect(await cache.stats()).toEqual({ entries: 2, bytes: live.bytes * 2 });
    expect(await cache.purgeExpired(NOW)).toBe(1);
    expect(await cache.stats()).toEqual({ entries: 1, bytes: live.bytes });
    expect(await cache.purgeAll()).toBe(1);
    expect(await cache.stats()).toEqual({ entries: 0, bytes: 0 });
  });

  it('finds an exact repeat by its text, the newest live one', async () => {
    const cache = await repository();
    await cache.insert(entry([1, 0], { textDigest: 'same', expiresAt: NOW }));
    const older = await cache.insert(entry([1, 0], { textDigest: 'same' }));
    const newer = await cache.insert(
      entry([1, 0], { textDigest: 'same', createdAt: new Date(NOW.getTime() + 1000) }),
    );
    const scope = query([], 0);
    expect((await cache.exact(scope, 'same'))?.id).toBe(newer.id);
    expect(older.id).not.toBe(newer.id);
    expect(await cache.exact(scope, 'other')).toBeNull();
    expect(await cache.exact({ ...scope, paramsDigest: 'other' }, 'same')).toBeNull();
    expect(await cache.exact({ ...scope, now: LATER }, 'same')).toBeNull();
  });

  it('a zero vector never matches', async () => {
    const cache = await repository();
    await cache.insert(entry([0, 0]));
    expect(await cache.nearest(query([1, 0], -1))).toBeNull();
  });

  it('trims to the newest entries', async () => {
    const db = await tenantDatabase();
    const cache = new SemanticCacheRepository(db);
    for (let i = 0; i < 4; i++)
      await cache.insert(
        entry([1, i], { textDigest: `d${i}`, createdAt: new Date(NOW.getTime() + i * 1000) }),
      );
    expect(await cache.trim(2)).toBe(2);
    const rows = await sql<{ text_digest: string }>`
      select text_digest from semantic_cache_entries order by text_digest`.execute(db);
    expect(rows.rows.map((row) => row.text_digest)).toEqual(['d2', 'd3']);
    expect(await cache.trim(2)).toBe(0);
  });

  it("one tenant's entries never answer another's identical query", async () => {
    const a = await repository();
    const b = await repository();
    await a.insert(entry([1, 0, 0]));
    expect(await a.nearest(query([1, 0, 0], 0.99))).not.toBeNull();
    expect(await b.nearest(query([1, 0, 0], 0.99))).toBeNull();
    expect(await b.stats()).toEqual({ entries: 0, bytes: 0 });
  });

  it('makes its table again where it is missing and pgvector is there', async () => {
    const db = await tenantDatabase();
    const cache = new SemanticCacheRepository(db);
    await sql`drop table semantic_cache_entries`.execute(db);
    expect(await cache.prepare()).toBe(true);
    await cache.insert(entry([1, 0]));
    expect(await cache.stats()).toMatchObject({ entries: 1 });
  });
});

describe('semantic cache storage under a role that may not create pgvector', () => {
  it('migrates without it, then makes its table once a superuser created the extension', async () => {
    const suffix = randomBytes(4).toString('hex');
    const role = `llmb_sem_${suffix}`;
    const database = `llmb_sem_${suffix}`;
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`create role ${role} login createdb`);
    await admin.query(`create database ${database} owner ${role}`);
    const url = new URL(TEST_DATABASE_URL);
    url.username = role;
    url.pathname = `/${database}`;
    const db = new Kysely<TenantSchema>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url.toString() }) }),
    });
    try {
      // pgvector is not trusted: the migration leaves it out rather than fail the tenant.
      await migrateToLatest(db as Kysely<unknown>, 'tenant');
      const cache = new SemanticCacheRepository(db);
      expect(await cache.prepare()).toBe(false);

      const superuser = new URL(TEST_DATABASE_URL);
      superuser.pathname = `/${database}`;
      const owner = new pg.Client({ connectionString: superuser.toString() });
      await owner.connect();
      await owner.query('create extension vector');
      await owner.end();
      expect(await cache.prepare()).toBe(true);
      await cache.insert(entry([1, 0]));
      expect(await cache.stats()).toMatchObject({ entries: 1 });
    } finally {
      await db.destroy();
      // The pool's sessions close after destroy() returns; one still open when the database
      // is dropped would be terminated and raise an error nothing listens to any more.
      await eventually(async () => {
        const { rows } = await admin.query(
          'select count(*)::int as n from pg_stat_activity where datname = $1',
          [database],
        );
        expect(rows[0]?.n).toBe(0);
      });
      await admin.query(`drop database if exists ${database} with (force)`);
      await admin.query(`drop role if exists ${role}`);
      await admin.end();
    }
  });
});
