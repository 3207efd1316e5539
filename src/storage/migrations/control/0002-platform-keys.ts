import { type Kysely, sql } from 'kysely';

/** Platform admin keys: the same lifecycle as a tenant's keys, with no tenant, user or role. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table platform_api_keys (
      id text primary key,
      name text not null,
      display_prefix text not null,
      key_hash text not null unique,
      previous_key_hash text unique,
      previous_valid_until timestamptz,
      expires_at timestamptz,
      revoked_at timestamptz,
      last_used_at timestamptz,
      created_at timestamptz not null default now()
    )`.execute(db);
}
