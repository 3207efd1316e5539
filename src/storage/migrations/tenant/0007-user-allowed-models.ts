import { type Kysely, sql } from 'kysely';

/** The models a user's keys may use, within the tenant's: null for no limit of the user's own. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table users add column allowed_models text[]`.execute(db);
}
