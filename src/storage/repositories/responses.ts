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

  async put(stored: StoredResponse): Promise<void> {
    await this.db
      .insertInto('responses')
      .values({
        id: stored.id,
        api_key_id: stored.apiKeyId,
        response: JSON.stringify(stored.response),
        input_items: JSON.stringify(stored.inputItems),
      })
      .execute();
  }

  async get(id: string, apiKeyId: string): Promise<StoredResponse | null> {
    const row = await this.db
      .selectFrom('responses')
      .selectAll()
      .where('id', '=', id)
      .where('api_key_id', '=', apiKeyId)
      .executeTakeFirst();
    if (row === undefined) return null;
    return {
      id: row.id,
      apiKeyId: row.api_key_id,
      response: parsed(row.response),
      inputItems: parsed(row.input_items),
    };
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
