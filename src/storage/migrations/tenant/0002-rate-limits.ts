import { type Kysely, sql } from 'kysely';

/**
 * Rate limits of the tenant, of one of its users or of one of its keys, for all models
 * together (model null) or one model. One row per target; a null limit is no limit.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table rate_limits (
      id text primary key,
      scope text not null check (scope in ('tenant', 'user', 'key')),
      subject_id text,
      model text,
      requests_per_minute integer check (requests_per_minute > 0),
      tokens_per_minute integer check (tokens_per_minute > 0),
      max_concurrent_requests integer check (max_concurrent_requests > 0),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check ((scope = 'tenant') = (subject_id is null))
    )`.execute(db);
  await sql`
    create unique index rate_limits_target
      on rate_limits (scope, coalesce(subject_id, ''), coalesce(model, ''))`.execute(db);
}
