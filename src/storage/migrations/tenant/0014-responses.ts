import { type Kysely, sql } from 'kysely';

/**
 * Stored Responses API responses (`store: true`): the response object as it was sent, and
 * the whole conversation it answered (earlier turns included), so `previous_response_id`
 * continues it from any instance with one read. Scoped to the key that created it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table responses (
      id text primary key,
      api_key_id text not null,
      response jsonb not null,
      input_items jsonb not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index responses_key_idx on responses (api_key_id, created_at)`.execute(db);
}
