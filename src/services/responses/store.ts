import type { Kysely } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import type { JsonObject } from '../../providers/types.js';
import { ResponsesRepository, type StoredResponse } from '../../storage/repositories/responses.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import type { ConversationState, ConversationStateCache, ResponseOwner } from './state-cache.js';

export type { ConversationState, ResponseOwner, StoredResponse };

export interface ResponseStoreOptions {
  /** The tenant's database (its primary: a response is read back at once, maybe elsewhere). */
  database: (tenantId: string) => Promise<Kysely<TenantSchema>>;
  /** How long a response is kept; null: until deleted. */
  retentionMs: number | null;
  /** Hot conversations beside the database; none: every continuation reads the database. */
  cache?: ConversationStateCache;
  now?: () => number;
}

/**
 * Stored Responses API responses, in each tenant's own database, so any instance continues a
 * conversation. Scoped to the key that created a response, as OpenAI scopes them to the
 * project: another key's or another tenant's id is not found, never forbidden.
 */
export class ResponseStore {
  constructor(private readonly options: ResponseStoreOptions) {}

  /**
   * Keeps a response, and removes the key's expired ones: expiry needs no sweep over every
   * tenant, and an idle key's old responses read as gone all the same. The conversation is
   * cached once the row is written, so the cache never holds what the database does not.
   */
  async put(owner: ResponseOwner, stored: Omit<StoredResponse, 'apiKeyId'>): Promise<void> {
    const repository = await this.repository(owner);
    const cutoff = this.cutoff();
    if (cutoff !== null) await repository.deleteOlder(owner.keyId, cutoff);
    const createdAt = this.now();
    await repository.put({ ...stored, apiKeyId: owner.keyId }, new Date(createdAt));
    const { retentionMs } = this.options;
    await this.options.cache?.remember(
      owner,
      stored.id,
      { inputItems: stored.inputItems, output: outputOf(stored.response) },
      createdAt,
      retentionMs === null ? null : createdAt + retentionMs,
    );
  }

  /** The response, or `response_not_found` naming `param`. */
  async get(owner: ResponseOwner, id: string, param = 'response_id'): Promise<StoredResponse> {
    const stored = await (await this.repository(owner)).get(id, owner.keyId, this.cutoff());
    if (stored === null) throw notFound(id, param);
    return stored;
  }

  /**
   * What continuing the response needs, from the cache when it has it (checked for the same
   * key, tenant and retention as the row), else from the database.
   */
  async conversation(
    owner: ResponseOwner,
    id: string,
    param = 'previous_response_id',
  ): Promise<ConversationState> {
    const cutoff = this.cutoff();
    const cached = await this.options.cache?.read(owner, id, cutoff?.getTime() ?? null);
    if (cached) return cached;
    const stored = await this.get(owner, id, param);
    return { inputItems: stored.inputItems, output: outputOf(stored.response) };
  }

  /**
   * Deletes the row, then the cached conversation, even one whose row is gone. A cache that
   * cannot say it dropped the entry fails the call (503): a deleted response must not be
   * continued from the cache, and the row is gone already, so a retry finishes the job.
   */
  async delete(owner: ResponseOwner, id: string): Promise<void> {
    const deleted = await (await this.repository(owner)).delete(id, owner.keyId);
    const { cache } = this.options;
    let forgotten = false;
    if (cache !== undefined)
      try {
        forgotten = await cache.forget(owner, id);
      } catch (error) {
        throw new GatewayError('service_unavailable', {
          message:
            'The response could not be removed from the conversation cache; retry the request.',
          cause: error,
        });
      }
    if (!deleted && !forgotten) throw notFound(id, 'response_id');
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Responses created before this are past their retention. */
  private cutoff(): Date | null {
    const { retentionMs } = this.options;
    return retentionMs === null ? null : new Date(this.now() - retentionMs);
  }

  private async repository(owner: ResponseOwner) {
    return new ResponsesRepository(await this.options.database(owner.tenantId));
  }
}

const outputOf = (response: JsonObject): JsonObject[] =>
  Array.isArray(response.output) ? (response.output as JsonObject[]) : [];

const notFound = (id: string, param: string) =>
  new GatewayError('response_not_found', {
    message: `Response with id '${id}' not found.`,
    param,
  });
