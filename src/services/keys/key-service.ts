import type { Kysely } from 'kysely';
import { API_KEY, type ApiKey } from '../../domain/api-key.js';
import { parseApiKey } from '../../domain/key-format.js';
import type { TenantRole } from '../../domain/roles.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import { ApiKeyRepository, KeyIndexRepository } from '../../storage/repositories/api-keys.js';
import { UserRepository } from '../../storage/repositories/users.js';
import type { TenantSchema } from '../../storage/tenant-schema.js';
import { newId } from '../../utils/ids.js';
import { checkWithin, intersectModels, validAllowedModels } from '../access/model-access.js';
import { isWithinRole } from '../access/permissions.js';
import { type Actor, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { Changed, ChangeRecorder } from '../audit/changes.js';
import type { EventPublisher } from '../events/publisher.js';
import type { Tenant, TenantService } from '../tenancy/tenant-service.js';
import type { ApiKeyHasher } from './key-hash.js';
import { invalidKey, newSecret, validUntil } from './key-secrets.js';
import type { PlatformKeyService, PlatformPrincipal } from './platform-key-service.js';

export type { ApiKey };

/** Who is calling, as resolved from a Bearer key: a tenant's key or a platform admin key. */
export type KeyPrincipal = TenantPrincipal | PlatformPrincipal;

export interface TenantPrincipal {
  kind: 'tenant';
  tenantId: string;
  /** The tenant's slug (never changes): the metrics' tenant label. */
  tenantSlug: string;
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
  /** Writes, audits and announces each change (revocations reach every cache at once). */
  changes: ChangeRecorder;
  /** Resolves the keys the index marks as platform admin keys. */
  platformKeys: PlatformKeyService;
  /** Raises `api_key.*` for each key created, rotated or revoked. */
  publisher?: Pick<EventPublisher, 'publish'>;
}

/**
 * Tenant API keys. The secret is returned once, at creation or rotation; only its keyed
 * hash is stored: in the tenant's database with the key, and in the control plane's index
 * that maps a hash to its tenant.
 */
export class KeyService {
  private readonly index: KeyIndexRepository;

  constructor(private readonly options: KeyServiceOptions) {
    this.index = new KeyIndexRepository(options.control);
  }

  /** Never the secret: the key's id, name and role. */
  private announce(type: 'api_key.created' | 'api_key.rotated' | 'api_key.revoked') {
    return ({ after }: Changed<ApiKey>) => {
      if (after === null) return;
      const data = { key_id: after.id, name: after.name, role: after.role, user_id: after.userId };
      this.options.publisher?.publish(type, after.tenantId, data);
    };
  }

  private keys(db: Kysely<TenantSchema>, tenant: Tenant) {
    return new ApiKeyRepository(db, tenant.id);
  }

  async create(
    tenantRef: string,
    input: CreateKeyInput,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ key: ApiKey; secret: string }> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const allowedModels = validAllowedModels(input.allowedModels ?? null);
    checkWithin(allowedModels, tenant.allowedModels, 'the tenant');
    const userId = input.userId ?? null;
    if (userId !== null) await checkOwner(db, userId, input.role, allowedModels);
    const { secret, hash, displayPrefix } = newSecret(this.options.hasher);
    const id = newId('key');
    // The index entry first: a key in the tenant's database without one can never be used.
    await this.index.add(hash, id, tenant.id);
    const { after } = await this.options.changes.tenant(db, actor, {
      action: 'api_key.create',
      kind: API_KEY,
      write: async (trx) => {
        const key = await this.keys(trx, tenant).insert({
          id,
          name: input.name,
          displayPrefix,
          hash,
          userId,
          role: input.role,
          allowedModels,
          expiresAt: input.expiresAt ?? null,
        });
        return { before: null, after: key };
      },
      announce: this.announce('api_key.created'),
    });
    return { key: after, secret };
  }

  async list(tenantRef: string): Promise<ApiKey[]> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    return this.keys(db, tenant).list();
  }

  async get(tenantRef: string, keyId: string): Promise<ApiKey> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    return found(await this.keys(db, tenant).find(keyId));
  }

  /** A new secret; the old one keeps working for `graceSeconds`, then never again. */
  async rotate(
    tenantRef: string,
    keyId: string,
    graceSeconds: number,
    now = new Date(),
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ key: ApiKey; secret: string }> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const { secret, hash, displayPrefix } = newSecret(this.options.hasher);
    await this.index.add(hash, keyId, tenant.id);
    let older: string | null = null;
    const { before, after } = await this.options.changes
      .tenant(db, actor, {
        action: 'api_key.rotate',
        kind: API_KEY,
        write: async (trx) => {
          const keys = this.keys(trx, tenant);
          const current = await keys.findWithSecrets(keyId, true);
          if (current === null || current.key.revokedAt !== null) throw notFound();
          older = current.secrets.previous_key_hash;
          const rotated = await keys.rotate(keyId, {
            hash,
            displayPrefix,
            previousHash: current.secrets.key_hash,
            previousValidUntil: new Date(now.getTime() + graceSeconds * 1000),
          });
          return { before: current.key, after: rotated };
        },
        // Cached resolutions of the old secret must learn its new end of validity.
        invalidate: () => ({ keyId }),
        announce: this.announce('api_key.rotated'),
      })
      .catch(async (error: unknown) => {
        // Nothing changed: the new secret must not open the key.
        await this.index.removeHash(hash).catch(() => {});
        throw error;
      });
    // The secret before the previous rotation stops now; only the one replaced here lingers.
    if (older !== null) await this.index.removeHash(older);
    if (before === null) throw notFound();
    return { key: after, secret };
  }

  async revoke(
    tenantRef: string,
    keyId: string,
    now = new Date(),
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<ApiKey> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const { after } = await this.options.changes.tenant(db, actor, {
      action: 'api_key.revoke',
      kind: API_KEY,
      write: async (trx) => {
        const keys = this.keys(trx, tenant);
        const before = found(await keys.find(keyId));
        return { before, after: await keys.revoke(keyId, now) };
      },
      invalidate: () => ({ keyId }),
      announce: this.announce('api_key.revoked'),
    });
    // The stored key is what refuses it; without an index entry it is not even looked up.
    await this.index.removeKey(keyId);
    return after;
  }

  /** The stored form of a secret: what caches key on instead of the secret itself. */
  fingerprint(secret: string): string {
    return this.options.hasher.hash(secret);
  }

  /** The key's index entry, and the hash it was found under; invalid_api_key for none. */
  private async indexEntry(secret: string) {
    for (const hasher of [this.options.hasher, this.options.previousHasher]) {
      if (hasher === undefined) continue;
      const hash = hasher.hash(secret);
      const entry = await this.index.find(hash);
      if (entry !== null) return { ...entry, hash };
    }
    throw invalidKey();
  }

  /** The caller behind a Bearer secret; every failure looks the same from outside. */
  async resolve(secret: string, now = new Date()): Promise<KeyPrincipal> {
    // Malformed keys (wrong prefix, length or checksum) never reach the database.
    if (!parseApiKey(secret).ok) throw invalidKey();
    return this.resolveEntry(await this.indexEntry(secret), now);
  }

  /**
   * The stored hash a secret is indexed under: what a session keeps instead of the secret,
   * to check the key again on each use (see `resolveHash`).
   */
  async indexHash(secret: string): Promise<string> {
    if (!parseApiKey(secret).ok) throw invalidKey();
    return (await this.indexEntry(secret)).hash;
  }

  /**
   * The caller behind a stored hash, checked as `resolve` checks a secret: revoked, expired,
   * rotated out, tenant disabled or deleted, user disabled all refuse it.
   */
  async resolveHash(hash: string, now = new Date()): Promise<KeyPrincipal> {
    const entry = await this.index.find(hash);
    if (entry === null) throw invalidKey();
    return this.resolveEntry({ ...entry, hash }, now);
  }

  private async resolveEntry(
    { keyId, tenantId, hash }: { keyId: string; tenantId: string | null; hash: string },
    now: Date,
  ): Promise<KeyPrincipal> {
    if (tenantId === null) return this.options.platformKeys.resolve(keyId, hash, now);
    const tenant = await this.options.tenants.get(tenantId).catch(() => {
      throw invalidKey();
    });
    if (tenant.status === 'disabled') throw new GatewayError('tenant_disabled');
    if (tenant.status !== 'active') throw invalidKey();
    const db = this.options.tenants.database(tenant);
    const stored = await this.keys(db, tenant).findWithSecrets(keyId);
    if (stored === null) throw invalidKey();
    const { key } = stored;
    // Checked first, so a revoked key of a disabled user reads as unknown, not as disabled.
    const until = validUntil(stored.secrets, hash, now);
    let userModels: string[] | null = null;
    if (key.userId !== null) {
      const owner = await new UserRepository(db).find(key.userId);
      if (owner?.status === 'disabled') throw new GatewayError('user_disabled');
      userModels = owner?.allowedModels ?? null;
    }
    return {
      kind: 'tenant',
      tenantId: tenant.id,
      tenantSlug: tenant.slug,
      keyId: key.id,
      role: key.role,
      userId: key.userId,
      // Resolved once and cached: changes to any level announce the tenant on the bus.
      allowedModels: intersectModels(tenant.allowedModels, userModels, key.allowedModels),
      validUntil: until,
    };
  }
}

const notFound = () => new GatewayError('key_not_found', { param: 'key' });

function found(key: ApiKey | null): ApiKey {
  if (key === null) throw notFound();
  return key;
}

/** A key's user must exist in the tenant, and the key may not do more than the user. */
async function checkOwner(
  db: Kysely<TenantSchema>,
  userId: string,
  role: TenantRole,
  allowedModels: string[] | null,
): Promise<void> {
  const user = await new UserRepository(db).find(userId);
  if (user === null) throw new GatewayError('user_not_found', { param: 'user_id' });
  if (!isWithinRole(role, user.role)) {
    throw new GatewayError('invalid_request', {
      message: `A key of this user may not have the role '${role}': it would allow more than the user's role '${user.role}'.`,
      param: 'role',
    });
  }
  checkWithin(allowedModels, user.allowedModels, 'the user');
}
