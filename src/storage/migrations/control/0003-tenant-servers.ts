import { type Kysely, sql } from 'kysely';

/**
 * A tenant's server by its name in `database_servers`, never by URL: URLs carry passwords,
 * which stay in the environment. The URL columns of 0001 were never written.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table tenants add column server text`.execute(db);
  await sql`comment on column tenants.server is 'null: the control plane''s own server'`.execute(
    db,
  );
  await sql`alter table tenants drop column server_url, drop column replica_url`.execute(db);
}
