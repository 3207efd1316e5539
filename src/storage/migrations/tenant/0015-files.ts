import { type Kysely, sql } from 'kysely';

/**
 * Files uploaded through /v1/files (batch input, and later batch output), in the tenant's own
 * database. The content is kept in chunks of bytea rather than one value, so no single row
 * (and no single read) grows with the file, and a file is read back piece by piece.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table files (
      id text primary key,
      filename text not null,
      purpose text not null,
      bytes bigint not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index files_created_idx on files (created_at, id)`.execute(db);
  await sql`
    create table file_chunks (
      file_id text not null references files (id) on delete cascade,
      seq integer not null,
      data bytea not null,
      primary key (file_id, seq)
    )`.execute(db);
}
