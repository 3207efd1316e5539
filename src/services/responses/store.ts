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
}

/**
 * Stored Responses API responses, in each tenant's own database, so any instance continues a
 * conversation. Scoped to the key that created a response, as OpenAI scopes them to the
 * project: another key's or another tenant's id is not found, never forbidden.
 */
export class ResponseStore {
  constructor(private readonly options: ResponseStoreOptions) {}

  async put(owner: ResponseOwner, stored: Omit<StoredResponse, 'apiKeyId'>): Promise<void> {
    await (await this.repository(owner)).put({ ...stored, apiKeyId: owner.keyId });
  }

  /** The response, or `response_not_found` naming `param`. */
  async get(owner: ResponseOwner, id: string, param = 'response_id'): Promise<StoredResponse> {
    const stored = await (await this.repository(owner)).get(id, owner.keyId);
    if (stored === null) throw notFound(id, param);
    return stored;
  }

  async delete(owner: ResponseOwner, id: string): Promise<void> {
    if (!(await (await this.repository(owner)).delete(id, owner.keyId)))
      throw notFound(id, 'response_id');
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
