import { type Kysely, sql } from 'kysely';

/**
 * The tenant's response cache settings (one row at most; a null field follows the model's
 * and the platform's), and on each usage record whether the answer came from the cache and
 * what the upstream would have cost for it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table cache_settings (
      id smallint primary key default 1 check (id = 1),
      enabled boolean,
      ttl_seconds integer,
      max_entry_bytes integer,
      budget_bytes bigint,
      allow_nondeterministic boolean,
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    alter table usage_records
      add column cache_hit boolean not null default false,
      add column saved_cost numeric(20, 10) not null default 0`.execute(db);
}
