import { type Kysely, sql } from 'kysely';

/** Quotas may also count charges: what the tenant is charged under its price plan. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table quotas drop constraint quotas_metric_check`.execute(db);
  await sql`
    alter table quotas add constraint quotas_metric_check
      check (metric in ('tokens', 'cost', 'charge'))`.execute(db);
}
