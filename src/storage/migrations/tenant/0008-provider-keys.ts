import { type Kysely, sql } from 'kysely';

/**
 * A tenant's own keys for providers that allow them, one per provider. Envelope encryption:
 * `secret_sealed` is the key under a data key of its own, `data_key_sealed` that data key
 * under the key-encryption key derived from MASTER_KEY. A master key rotation re-seals only
 * the data keys. Nothing here is plaintext; `hint` is the key's last characters, to tell keys
 * apart, and is left empty for keys too short to spare them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table provider_keys (
      provider text primary key,
      secret_sealed text not null,
      data_key_sealed text not null,
      hint text not null default '',
      created_at timestamptz not null default now(),
      created_by text,
      updated_at timestamptz not null default now(),
      updated_by text
    )`.execute(db);
}
