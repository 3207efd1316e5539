import type { Kysely, Selectable } from 'kysely';
import type { ApiKey, KeyLifecycle } from '../../domain/api-key.js';
import type { TenantRole } from '../../domain/roles.js';
import type { ControlSchema } from '../control-schema.js';
import type { ApiKeysTable, TenantSchema } from '../tenant-schema.js';

const date = (value: Date | string | null) => (value === null ? null : new Date(value));

/** The lifecycle columns every key table has, tenant or platform. */
export function lifecycleOf(row: {
  expires_at: Date | string | null;
  revoked_at: Date | string | null;
  previous_valid_until: Date | string | null;
  last_used_at: Date | string | null;
  created_at: Date | string;
}): KeyLifecycle {
  return {
    expiresAt: date(row.expires_at),
    revokedAt: date(row.revoked_at),
    previousValidUntil: date(row.previous_valid_until),
    lastUsedAt: date(row.last_used_at),
    createdAt: new Date(row.created_at),
  };
}

/** What decides whether a stored secret still opens its key (see key-secrets.ts). */
export interface StoredSecrets {
  key_hash: string;
  previous_key_hash: string | null;
  previous_valid_until: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
}

export interface NewApiKey {
  id: string;
  name: string;
  displayPrefix: string;
  hash: string;
  userId: string | null;
  role: TenantRole;
  allowedModels: string[] | null;
  expiresAt: Date | null;
}

/** A tenant's API keys, in its own database. */
export class ApiKeyRepository {
  constructor(
    private readonly db: Kysely<TenantSchema>,
    private readonly tenantId: string,
  ) {}

  private toApiKey(row: Selectable<ApiKeysTable>): ApiKey {
    return {
      id: row.id,
      tenantId: this.tenantId,
      name: row.name,
      displayPrefix: row.display_prefix,
      userId: row.user_id,
      role: row.role,
      allowedModels: row.allowed_models,
      ...lifecycleOf(row),
    };
  }

  async list(): Promise<ApiKey[]> {
    const rows = await this.db.selectFrom('api_keys').selectAll().orderBy('id').execute();
    return rows.map((row) => this.toApiKey(row));
  }

  async find(id: string): Promise<ApiKey | null> {
    const row = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? null : this.toApiKey(row);
  }

  /** The key and its stored secrets, for resolving a secret; locked inside a transaction. */
  async findWithSecrets(
    id: string,
    lock = false,
  ): Promise<{ key: ApiKey; secrets: StoredSecrets } | null> {
    let query = this.db.selectFrom('api_keys').selectAll().where('id', '=', id);
    if (lock) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    return row === undefined ? null : { key: this.toApiKey(row), secrets: row };
  }

  async insert(key: NewApiKey): Promise<ApiKey> {
    const row = await this.db
      .insertInto('api_keys')
      .values({
        id: key.id,
        name: key.name,
        display_prefix: key.displayPrefix,
        key_hash: key.hash,
        previous_key_hash: null,
        previous_valid_until: null,
        user_id: key.userId,
        role: key.role,
        allowed_models: key.allowedModels,
        expires_at: key.expiresAt,
        revoked_at: null,
        last_used_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return this.toApiKey(row);
  }

  /** A new current secret; the one it replaces stays valid until `previousValidUntil`. */
  async rotate(
    id: string,
    secret: { hash: string; displayPrefix: string; previousHash: string; previousValidUntil: Date },
  ): Promise<ApiKey> {
    const row = await this.db
      .updateTable('api_keys')
      .set({
        key_hash: secret.hash,
        display_prefix: secret.displayPrefix,
        previous_key_hash: secret.previousHash,
        previous_valid_until: secret.previousValidUntil,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return this.toApiKey(row);
  }

  async revoke(id: string, at: Date): Promise<ApiKey> {
    const row = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: at, previous_key_hash: null, previous_valid_until: null })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return this.toApiKey(row);
  }

  /** Moves `last_used_at` forward only: batches from several instances may arrive late. */
  async touch(id: string, at: Date): Promise<void> {
    await this.db
      .updateTable('api_keys')
      .set({ last_used_at: at })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
      .execute();
  }
}

/** The control plane's index from a secret's hash to its key and tenant (null: platform). */
export class KeyIndexRepository {
  constructor(private readonly db: Kysely<ControlSchema>) {}

  async add(hash: string, keyId: string, tenantId: string | null): Promise<void> {
    await this.db
      .insertInto('api_key_index')
      .values({ key_hash: hash, key_id: keyId, tenant_id: tenantId })
      .execute();
  }

  async find(hash: string): Promise<{ keyId: string; tenantId: string | null } | null> {
    const row = await this.db
      .selectFrom('api_key_index')
      .selectAll()
      .where('key_hash', '=', hash)
      .executeTakeFirst();
    return row === undefined ? null : { keyId: row.key_id, tenantId: row.tenant_id };
  }

  async removeHash(hash: string): Promise<void> {
    await this.db.deleteFrom('api_key_index').where('key_hash', '=', hash).execute();
  }

  /** Every secret of the key: without an entry, it fails at the first lookup everywhere. */
  async removeKey(keyId: string): Promise<void> {
    await this.db.deleteFrom('api_key_index').where('key_id', '=', keyId).execute();
  }
}
