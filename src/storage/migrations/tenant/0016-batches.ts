import { type Kysely, sql } from 'kysely';

/**
 * Batch API batches and their lines, in the tenant's own database. Each line of the input
 * file is a row, with its request and, once run, its answer or error: a worker that dies
 * mid-batch loses nothing, and a line whose result row says it ran is never sent again.
 * Usage records learn which of them came from a batch (billed at the batch price).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table batches (
      id text primary key,
      endpoint text not null,
      input_file_id text not null,
      completion_window text not null,
      status text not null,
      metadata jsonb,
      key_id text not null,
      user_id text,
      allowed_models jsonb,
      total integer not null,
      remaining integer not null,
      queued boolean not null default false,
      output_file_id text,
      error_file_id text,
      created_at timestamptz not null,
      expires_at timestamptz not null,
      in_progress_at timestamptz,
      finalizing_at timestamptz,
      completed_at timestamptz,
      failed_at timestamptz,
      expired_at timestamptz,
      cancelling_at timestamptz,
      cancelled_at timestamptz
    )`.execute(db);
  await sql`create index batches_created_idx on batches (created_at, id)`.execute(db);
  await sql`create index batches_active_idx on batches (status)
    where status in ('validating', 'in_progress', 'finalizing', 'cancelling')`.execute(db);
  await sql`
    create table batch_lines (
      batch_id text not null references batches (id) on delete cascade,
      idx integer not null,
      custom_id text,
      state text not null,
      request jsonb,
      response jsonb,
      error jsonb,
      usage_event jsonb,
      attempts integer not null default 0,
      finished_at timestamptz,
      primary key (batch_id, idx)
    )`.execute(db);
  await sql`alter table usage_records add column batch boolean not null default false`.execute(db);
}
