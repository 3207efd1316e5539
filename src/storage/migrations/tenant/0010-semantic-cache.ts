import { type Kysely, sql } from 'kysely';

/**
 * The semantic cache: answers kept with the embedding of the conversation that asked for
 * them, found again by cosine similarity (pgvector's `<=>`) among the entries of the same
 * model and the same other request fields (`params_digest`: sampling, response format...).
 * Dimension-free `vector`, since each embedding model has its own length: pgvector's HNSW
 * and IVFFlat indexes need a fixed one, so lookups are an exact scan over the rows of one
 * model and embedding model, which a per-tenant entry cap keeps bounded (see
 * docs/semantic-cache.md). `dimensions` is kept so a scan never compares vectors of two
 * lengths (pgvector refuses that) after an embedding model's length changed.
 *
 * Only where the extension is there or may be made: the server offers pgvector and the role
 * may create it (pgvector is not a trusted extension: a superuser, unless it is in the
 * database already, e.g. from `template1`). Elsewhere the database keeps working with no
 * semantic cache, and `createSemanticCacheSchema` makes the table once that changes.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (await vectorUsable(db)) await createSemanticCacheSchema(db);
}

/** Whether pgvector is in this database, or the server has it and this role may create it. */
export async function vectorUsable(db: Kysely<unknown>): Promise<boolean> {
  const { rows } = await sql<{ usable: boolean }>`
    select exists (select 1 from pg_extension where extname = 'vector')
      or exists (
        select 1 from pg_available_extension_versions
        where name = 'vector'
          and (trusted or not superuser
            or (select rolsuper from pg_roles where rolname = current_user))
      ) as usable`.execute(db);
  return rows[0]?.usable === true;
}

/** Idempotent: run by this migration, and again when pgvector arrived after it. */
export async function createSemanticCacheSchema(db: Kysely<unknown>): Promise<void> {
  await sql`create extension if not exists vector`.execute(db);
  await sql`
    create table if not exists semantic_cache_entries (
      id text primary key,
      model text not null,
      embedding_model text not null,
      dimensions integer not null,
      embedding vector not null,
      params_digest text not null,
      text_digest text not null,
      response jsonb not null,
      usage jsonb not null,
      bytes integer not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null
    )`.execute(db);
  // The scan's filter (an exact repeat is found by its text alone), and the purge.
  await sql`
    create index if not exists semantic_cache_entries_lookup
    on semantic_cache_entries (model, params_digest, embedding_model, text_digest)`.execute(db);
  await sql`
    create index if not exists semantic_cache_entries_expires
    on semantic_cache_entries (expires_at)`.execute(db);
}
