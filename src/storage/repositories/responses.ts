import type { Kysely } from 'kysely';
import type { TenantSchema } from '../tenant-schema.js';

type Json = Record<string, unknown>;

/** A stored Responses API response and the conversation it answered. */
export interface StoredResponse {
  id: string;
  apiKeyId: string;
  response: Json;
  inputItems: Json[];
}

/** pg returns jsonb parsed; PGlite may hand back its text. */
const parsed = <T>(value: T | string): T =>
  typeof value === 'string' ? (JSON.parse(value) as T) : value;

/**
 * A tenant's stored responses, in its own database. Every read and delete names the key as
 * well as the id: a response belongs to the key that created it.
 */
export class ResponsesRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  async put(stored: StoredResponse, at: Date): Promise<void> {
    await this.db
      .insertInto('responses')
      .values({
        id: stored.id,
        api_key_id: stored.apiKeyId,
        response: JSON.stringify(stored.response),
        input_items: JSON.stringify(stored.inputItems),
        created_at: at,
      })
      .execute();
  }

  /** Null too when it was created before `notBefore` (past its retention). */
  async get(id: string, apiKeyId: string, notBefore: Date | null): Promise<StoredResponse | null> {
    let query = this.db
      .selectFrom('responses')
      .selectAll()
      .where('id', '=', id)
      .where('api_key_id', '=', apiKeyId);
    if (notBefore !== null) query = query.where('created_at', '>=', notBefore);
    const row = await query.executeTakeFirst();
    if (row === undefined) return null;
    return {
      id: row.id,
      apiKeyId: row.api_key_id,
      response: parsed(row.response),
      inputItems: parsed(row.input_items),
    };
  }

  /** Removes the key's responses created before `before`; how many there were. */
  async deleteOlder(apiKeyId: string, before: Date): Promise<number> {
    const result = await this.db
      .deleteFrom('responses')
      .where('api_key_id', '=', apiKeyId)
      .where('created_at', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** True when there was such a response. */
  async delete(id: string, apiKeyId: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('responses')
      .where('id', '=', id)
      .where('api_key_id', '=', apiKeyId)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
