import type { Kysely, Selectable } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import type { ApiKeysTable, TenantRole } from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import { checkWithin, intersectModels, validAllowedModels } from '../access/model-access.js';
import { isWithinRole } from '../access/permissions.js';
import { type Actor, appendAudit, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { EventLog } from '../events/event-log.js';
import type { Tenant, TenantService } from '../tenancy/tenant-service.js';
import type { InvalidationBus } from './invalidation.js';
import { parseApiKey } from './key-format.js';
import type { ApiKeyHasher } from './key-hash.js';
import {
  invalidKey,
  type KeyLifecycle,
  lifecycleJson,
  lifecycleOf,
  newSecret,
  validUntil,
} from './key-secrets.js';
import type { PlatformKeyService, PlatformPrincipal } from './platform-key-service.js';

export interface ApiKey extends KeyLifecycle {
  id: string;
  tenantId: string;
  name: string;
  /** `llmb_` and the first characters: enough to recognise a key, never enough to use it. */
  displayPrefix: string;
  userId: string | null;
  role: TenantRole;
  allowedModels: string[] | null;
}

/** Who is calling, as resolved from a Bearer key: a tenant's key or a platform admin key. */
export type KeyPrincipal = TenantPrincipal | PlatformPrincipal;

export interface TenantPrincipal {
  kind: 'tenant';
  tenantId: string;
  keyId: string;
  role: TenantRole;
  userId: string | null;
  /**
   * The models this caller may use: what the tenant, the key's user and the key all allow
   * (null: every model). Not the key's own list, which the ApiKey shows.
   */
  allowedModels: string[] | null;
  /** When this resolution stops holding by itself (expiry, end of a rotation's grace). */
  validUntil: Date | null;
}

export interface CreateKeyInput {
  name: string;
  role: TenantRole;
  userId?: string | null;
  allowedModels?: string[] | null;
  expiresAt?: Date | null;
}

export interface KeyServiceOptions {
  tenants: TenantService;
  control: Kysely<ControlSchema>;
  hasher: ApiKeyHasher;
  /**
   * The hasher of MASTER_KEY_PREVIOUS during a master key rotation: keys stored before it
   * still resolve, until they are rotated (which stores them under `hasher`).
   */
  previousHasher?: ApiKeyHasher;
  /** Told of revocations and rotations, so caches drop the key everywhere at once. */
  bus?: InvalidationBus;
  /** Resolves the keys the index marks as platform admin keys. */
  platformKeys: PlatformKeyService;
  /** Told of each key created, rotated or revoked (`api_key.*`), for the tenant's webhooks. */
  events?: EventLog;
}

function toApiKey(tenantId: string, row: Selectable<ApiKeysTable>): ApiKey {
  return {
    id: row.id,
    tenantId,
    name: row.name,
    displayPrefix: row.display_prefix,
    userId: row.user_id,
    role: row.role,
    allowedModels: row.allowed_models,
    ...lifecycleOf(row),
  };
}

/**
 * A key as the API, the CLI and the audit log show it: never its secret or hash, which the
 * ApiKey object does not carry in the first place.
 */
export function apiKeyJson(key: ApiKey) {
  return {
    id: key.id,
    name: key.name,
    display_prefix: key.displayPrefix,
    role: key.role,
    user_id: key.userId,
    allowed_models: key.allowedModels,
    ...lifecycleJson(key),
  };
}

/**
 * Tenant API keys. The secret is returned once, at creation or rotation; only its keyed
 * hash is stored: in the tenant's database with the key, and in the control plane's index
 * that maps a hash to its tenant.
 */
export class KeyService {
  constructor(private readonly options: KeyServiceOptions) {}

  private async audit(
    tenantRef: string,
    actor: Actor,
    action: string,
    before: ApiKey | null,
    after: ApiKey,
  ) {
    const tenant = await this.options.tenants.get(tenantRef);
    await appendAudit(
      this.options.tenants.database(tenant) as Kysely<unknown>,
      'audit_log',
      actor,
      {
        action,
        targetType: 'api_key',
        targetId: after.id,
        before: before && apiKeyJson(before),
        after: apiKeyJson(after),
      },
    );
  }

  /** Never the secret: the key's id, name and role. A lost event does not undo the change. */
  private async announce(type: string, key: ApiKey): Promise<void> {
    const data = { key_id: key.id, name: key.name, role: key.role, user_id: key.userId };
    await this.options.events?.append({ type, tenantId: key.tenantId, data }).catch(() => {});
  }

  async create(
    tenantRef: string,
    input: CreateKeyInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ key: ApiKey; secret: string }> {
    const tenant = await this.options.tenants.get(tenantRef);
    const allowedModels = validAllowedModels(input.allowedModels ?? null);
    checkWithin(allowedModels, tenant.allowedModels, 'the tenant');
    if (input.userId) await this.checkOwner(tenant, input.userId, input.role, allowedModels);
    const { secret, hash, displayPrefix } = newSecret(this.options.hasher);
    const id = newId('key');
    await this.options.control
      .insertInto('api_key_index')
      .values({ key_hash: hash, key_id: id, tenant_id: tenant.id })
      .execute();
    const row = await this.options.tenants
      .database(tenant)
      .insertInto('api_keys')
      .values({
        id,
        name: input.name,
        display_prefix: displayPrefix,
        key_hash: hash,
        previous_key_hash: null,
        previous_valid_until: null,
        user_id: input.userId ?? null,
        role: input.role,
        allowed_models: allowedModels,
        expires_at: input.expiresAt ?? null,
        revoked_at: null,
        last_used_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const key = toApiKey(tenant.id, row);
    await this.audit(tenant.id, actor, 'api_key.create', null, key);
    await this.announce('api_key.created', key);
    return { key, secret };
  }

  /** A key's user must exist in the tenant, and the key may not do more than the user. */
  private async checkOwner(
    tenant: Tenant,
    userId: string,
    role: TenantRole,
    allowedModels: string[] | null,
  ): Promise<void> {
    const user = await this.options.tenants
      .database(tenant)
      .selectFrom('users')
      .select(['role', 'allowed_models'])
      .where('id', '=', userId)
      .executeTakeFirst();
    if (user === undefined) throw new GatewayError('user_not_found', { param: 'user_id' });
    if (!isWithinRole(role, user.role)) {
      throw new GatewayError('invalid_request', {
        message: `A key of this user may not have the role '${role}': it would allow more than the user's role '${user.role}'.`,
        param: 'role',
      });
    }
    checkWithin(allowedModels, user.allowed_models, 'the user');
  }

  async list(tenantRef: string): Promise<ApiKey[]> {
    const tenant = await this.options.tenants.get(tenantRef);
    const rows = await this.options.tenants
      .database(tenant)
      .selectFrom('api_keys')
      .selectAll()
      .orderBy('id')
      .execute();
    return rows.map((row) => toApiKey(tenant.id, row));
  }

  async get(tenantRef: string, keyId: string): Promise<ApiKey> {
    const tenant = await this.options.tenants.get(tenantRef);
    const row = await this.options.tenants
      .database(tenant)
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', keyId)
      .executeTakeFirst();
    if (row === undefined) throw new GatewayError('key_not_found', { param: 'key' });
    return toApiKey(tenant.id, row);
  }

  /** A new secret; the old one keeps working for `graceSeconds`, then never again. */
  async rotate(
    tenantRef: string,
    keyId: string,
    graceSeconds: number,
    now = new Date(),
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ key: ApiKey; secret: string }> {
    const current = await this.get(tenantRef, keyId);
    if (current.revokedAt !== null) throw new GatewayError('key_not_found', { param: 'key' });
    const tenant = await this.options.tenants.get(tenantRef);
    const db = this.options.tenants.database(tenant);
    const { key_hash: oldHash, previous_key_hash: olderHash } = await db
      .selectFrom('api_keys')
      .select(['key_hash', 'previous_key_hash'])
      .where('id', '=', keyId)
      .executeTakeFirstOrThrow();
    const { secret, hash, displayPrefix } = newSecret(this.options.hasher);
    await this.options.control
      .insertInto('api_key_index')
      .values({ key_hash: hash, key_id: keyId, tenant_id: tenant.id })
      .execute();
    // The secret before the previous rotation stops now; only the one replaced here lingers.
    if (olderHash !== null) {
      await this.options.control
        .deleteFrom('api_key_index')
        .where('key_hash', '=', olderHash)
        .execute();
    }
    const row = await db
      .updateTable('api_keys')
      .set({
        key_hash: hash,
        display_prefix: displayPrefix,
        previous_key_hash: oldHash,
        previous_valid_until: new Date(now.getTime() + graceSeconds * 1000),
      })
      .where('id', '=', keyId)
      .returningAll()
      .executeTakeFirstOrThrow();
    const key = toApiKey(tenant.id, row);
    await this.audit(tenant.id, actor, 'api_key.rotate', current, key);
    await this.announce('api_key.rotated', key);
    // Cached resolutions of the old secret must learn its new end of validity.
    await this.options.bus?.publish({ keyId });
    return { key, secret };
  }

  async revoke(
    tenantRef: string,
    keyId: string,
    now = new Date(),
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<ApiKey> {
    const before = await this.get(tenantRef, keyId);
    const tenant = await this.options.tenants.get(tenantRef);
    const row = await this.options.tenants
      .database(tenant)
      .updateTable('api_keys')
      .set({ revoked_at: now, previous_key_hash: null, previous_valid_until: null })
      .where('id', '=', keyId)
      .returningAll()
      .executeTakeFirstOrThrow();
    // Without an index entry the key fails at the first lookup, on every instance.
    await this.options.control.deleteFrom('api_key_index').where('key_id', '=', keyId).execute();
    const key = toApiKey(tenant.id, row);
    await this.audit(tenant.id, actor, 'api_key.revoke', before, key);
    await this.announce('api_key.revoked', key);
    await this.options.bus?.publish({ keyId });
    return key;
  }

  /** The stored form of a secret: what caches key on instead of the secret itself. */
  fingerprint(secret: string): string {
    return this.options.hasher.hash(secret);
  }

  /** The key's index entry, and the hash it was found under; invalid_api_key for none. */
  private async indexEntry(secret: string) {
    const hashers = [this.options.hasher, this.options.previousHasher];
    for (const hasher of hashers) {
      if (hasher === undefined) continue;
      const hash = hasher.hash(secret);
      const entry = await this.options.control
        .selectFrom('api_key_index')
        .selectAll()
        .where('key_hash', '=', hash)
        .executeTakeFirst();
      if (entry !== undefined) return { entry, hash };
    }
    throw invalidKey();
  }

  /** The caller behind a Bearer secret; every failure looks the same from outside. */
  async resolve(secret: string, now = new Date()): Promise<KeyPrincipal> {
    // Malformed keys (wrong prefix, length or checksum) never reach the database.
    if (!parseApiKey(secret).ok) throw invalidKey();
    const { entry, hash } = await this.indexEntry(secret);
    if (entry.tenant_id === null) return this.options.platformKeys.resolve(entry.key_id, hash, now);
    const tenant = await this.options.tenants.get(entry.tenant_id).catch(() => {
      throw invalidKey();
    });
    if (tenant.status === 'disabled') throw new GatewayError('tenant_disabled');
    if (tenant.status !== 'active') throw invalidKey();
    const row = await this.options.tenants
      .database(tenant)
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', entry.key_id)
      .executeTakeFirst();
    if (row === undefined) throw invalidKey();
    // Checked first, so a revoked key of a disabled user reads as unknown, not as disabled.
    const until = validUntil(row, hash, now);
    let userModels: string[] | null = null;
    if (row.user_id !== null) {
      const owner = await this.options.tenants
        .database(tenant)
        .selectFrom('users')
        .select(['status', 'allowed_models'])
        .where('id', '=', row.user_id)
        .executeTakeFirst();
      if (owner?.status === 'disabled') throw new GatewayError('user_disabled');
      userModels = owner?.allowed_models ?? null;
    }
    return {
      kind: 'tenant',
      tenantId: tenant.id,
      keyId: row.id,
      role: row.role,
      userId: row.user_id,
      // Resolved once and cached: changes to any level announce the tenant on the bus.
      allowedModels: intersectModels(tenant.allowedModels, userModels, row.allowed_models),
      validUntil: until,
    };
  }
}
