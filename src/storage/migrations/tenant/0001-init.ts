import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table users (
      id text primary key,
      email text not null unique,
      name text not null,
      role text not null check (role in ('owner', 'admin', 'member', 'viewer', 'billing')),
      status text not null default 'active' check (status in ('active', 'disabled')),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table api_keys (
      id text primary key,
      name text not null,
      display_prefix text not null,
      key_hash text not null unique,
      -- a rotated key's old secret stays valid until previous_valid_until
      previous_key_hash text unique,
      previous_valid_until timestamptz,
      user_id text references users (id),
      role text not null check (role in ('owner', 'admin', 'member', 'viewer', 'billing')),
      allowed_models text[],
      expires_at timestamptz,
      revoked_at timestamptz,
      last_used_at timestamptz,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table audit_log (
      seq bigserial primary key,
      id text not null unique,
      at timestamptz not null default now(),
      actor_type text not null,
      actor_id text,
      action text not null,
      target_type text,
      target_id text,
      before jsonb,
      after jsonb,
      ip text,
      user_agent text,
      request_id text,
      previous_hash text not null,
      hash text not null
    )`.execute(db);
  await sql`create index audit_log_at on audit_log (at)`.execute(db);
}
