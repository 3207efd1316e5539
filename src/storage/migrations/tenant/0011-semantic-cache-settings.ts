import { type Kysely, sql } from 'kysely';

/**
 * The tenant's semantic cache settings, next to its response cache settings: one JSON object
 * in the settings' wire form (`{ enabled, threshold, embedding_model, ... }`), each field it
 * leaves out following the model's. Null: the tenant set nothing.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table cache_settings add column semantic jsonb`.execute(db);
}
