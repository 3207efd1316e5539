import { type Kysely, sql } from 'kysely';

/**
 * Quota rebuilds, the quota listing and usage reports filter one key's or one user's usage
 * over a period; without these each such read scans every row of the period. An index on
 * the partitioned table is made on every partition, present and future.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index usage_records_key_at on usage_records (key_id, at)`.execute(db);
  await sql`create index usage_records_user_at on usage_records (user_id, at)`.execute(db);
}
