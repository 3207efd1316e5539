import type { Kysely } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import { ResponsesRepository, type StoredResponse } from '../../storage/repositories/responses.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';

export type { StoredResponse };

/** Who asks: a response is the tenant's, and within it the creating key's. */
export interface ResponseOwner {
  tenantId: string;
  keyId: string;
}

export interface ResponseStoreOptions {
  /** The tenant's database (its primary: a response is read back at once, maybe elsewhere). */
  database: (tenantId: string) => Promise<Kysely<TenantSchema>>;
  /** How long a response is kept; null: until deleted. */
  retentionMs: number | null;
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
   * tenant, and an idle key's old responses read as gone all the same.
   */
  async put(owner: ResponseOwner, stored: Omit<StoredResponse, 'apiKeyId'>): Promise<void> {
    const repository = await this.repository(owner);
    const cutoff = this.cutoff();
    if (cutoff !== null) await repository.deleteOlder(owner.keyId, cutoff);
    await repository.put({ ...stored, apiKeyId: owner.keyId }, new Date(this.now()));
  }

  /** The response, or `response_not_found` naming `param`. */
  async get(owner: ResponseOwner, id: string, param = 'response_id'): Promise<StoredResponse> {
    const stored = await (await this.repository(owner)).get(id, owner.keyId, this.cutoff());
    if (stored === null) throw notFound(id, param);
    return stored;
  }

  async delete(owner: ResponseOwner, id: string): Promise<void> {
    if (!(await (await this.repository(owner)).delete(id, owner.keyId)))
      throw notFound(id, 'response_id');
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

const notFound = (id: string, param: string) =>
  new GatewayError('response_not_found', {
    message: `Response with id '${id}' not found.`,
    param,
  });
