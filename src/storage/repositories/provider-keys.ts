import type { Kysely, Selectable } from 'kysely';
import type { ProviderKey } from '../../domain/provider-key.js';
import type { ProviderKeysTable, TenantSchema } from '../tenant-schema.js';

/** A provider key as stored: under its own data key, and that data key under the master key. */
export interface SealedProviderKey {
  secretSealed: string;
  dataKeySealed: string;
}

export interface StoredProviderKey {
  provider: string;
  sealed: SealedProviderKey;
  hint: string;
  /** The actor, as `type:id`. */
  by: string;
}

function toProviderKey(row: Selectable<ProviderKeysTable>): ProviderKey {
  return {
    provider: row.provider,
    hint: row.hint,
    createdAt: new Date(row.created_at),
    createdBy: row.created_by,
    updatedAt: new Date(row.updated_at),
    updatedBy: row.updated_by,
  };
}

/** A tenant's own provider keys, in its own database. */
export class ProviderKeyRepository {
  constructor(private readonly db: Kysely<TenantSchema>) {}

  async list(): Promise<ProviderKey[]> {
    const rows = await this.db
      .selectFrom('provider_keys')
      .selectAll()
      .orderBy('provider')
      .execute();
    return rows.map(toProviderKey);
  }

  async find(provider: string): Promise<ProviderKey | null> {
    const row = await this.db
      .selectFrom('provider_keys')
      .selectAll()
      .where('provider', '=', provider)
      .executeTakeFirst();
    return row === undefined ? null : toProviderKey(row);
  }

  /** Stores the key, replacing the provider's: a replaced key keeps its creation. */
  async upsert(key: StoredProviderKey, now = new Date()): Promise<ProviderKey> {
    const sealed = {
      secret_sealed: key.sealed.secretSealed,
      data_key_sealed: key.sealed.dataKeySealed,
      hint: key.hint,
      updated_at: now,
      updated_by: key.by,
    };
    const row = await this.db
      .insertInto('provider_keys')
      .values({ provider: key.provider, ...sealed, created_at: now, created_by: key.by })
      .onConflict((conflict) => conflict.column('provider').doUpdateSet(sealed))
      .returningAll()
      .executeTakeFirstOrThrow();
    return toProviderKey(row);
  }

  async delete(provider: string): Promise<ProviderKey | null> {
    const row = await this.db
      .deleteFrom('provider_keys')
      .where('provider', '=', provider)
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? null : toProviderKey(row);
  }

  /** Every key's envelope, by provider: to open them, or to re-seal their data keys. */
  async sealed(): Promise<{ provider: string; sealed: SealedProviderKey }[]> {
    const rows = await this.db
      .selectFrom('provider_keys')
      .select(['provider', 'secret_sealed', 'data_key_sealed'])
      .orderBy('provider')
      .execute();
    return rows.map((row) => ({
      provider: row.provider,
      sealed: { secretSealed: row.secret_sealed, dataKeySealed: row.data_key_sealed },
    }));
  }

  /** Swaps the data key's envelope, only if it is still `from` (a key set meanwhile is left). */
  async resealDataKey(provider: string, from: string, to: string): Promise<void> {
    await this.db
      .updateTable('provider_keys')
      .set({ data_key_sealed: to })
      .where('provider', '=', provider)
      .where('data_key_sealed', '=', from)
      .execute();
  }
}
