import { type Kysely, sql } from 'kysely';

/**
 * The models a tenant may use, set by platform admins: null for every configured model. It
 * lives in the control plane, next to the tenant's status, so a tenant's own admins (who
 * write only to the tenant's database) cannot lift it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table tenants add column allowed_models text[]`.execute(db);
}
