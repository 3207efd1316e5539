import { type Kysely, sql } from 'kysely';

/**
 * Token quotas and spend budgets of the tenant, of one of its users or of one of its keys:
 * at most `amount` tokens (prompt and completion) or `amount` of spend (the price table's
 * currency) per UTC day, per UTC month or in total. One row per target, metric and period.
 * Thresholds are soft: percentages of the amount at which the owner is told, nothing refused.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table quotas (
      id text primary key,
      scope text not null check (scope in ('tenant', 'user', 'key')),
      subject_id text,
      metric text not null check (metric in ('tokens', 'cost')),
      period text not null check (period in ('day', 'month', 'total')),
      amount numeric(20, 10) not null check (amount > 0),
      thresholds smallint[] not null default '{}',
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check ((scope = 'tenant') = (subject_id is null))
    )`.execute(db);
  await sql`
    create unique index quotas_target
      on quotas (scope, coalesce(subject_id, ''), metric, period)`.execute(db);
}
