import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table tenants (
      id text primary key,
      slug text not null unique,
      name text not null,
      status text not null default 'provisioning'
        check (status in ('provisioning', 'active', 'disabled', 'deleting')),
      database_name text not null unique,
      -- null: the tenant's database is on the control plane's server
      server_url text,
      replica_url text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      delete_after timestamptz
    )`.execute(db);
  await sql`
    create table api_key_index (
      key_hash text primary key,
      key_id text not null,
      -- null: a platform admin key
      tenant_id text references tenants (id) on delete cascade,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index api_key_index_key_id on api_key_index (key_id)`.execute(db);
  await sql`
    create table platform_audit_log (
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
}
