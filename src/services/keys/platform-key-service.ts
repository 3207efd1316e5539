import type { Kysely } from 'kysely';
import { PLATFORM_KEY, type PlatformKey } from '../../domain/api-key.js';
import { type Actor, SYSTEM_ACTOR } from '../../domain/audit-entry.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ControlSchema } from '../../storage/control-schema.js';
import { KeyIndexRepository } from '../../storage/repositories/api-keys.js';
import { PlatformKeyRepository } from '../../storage/repositories/platform-keys.js';
import { newId } from '../../utils/ids.js';
import { type Changed, ChangeRecorder } from '../audit/changes.js';
import type { ApiKeyHasher } from './key-hash.js';
import { invalidKey, newSecret, validUntil } from './key-secrets.js';

export type { PlatformKey };

/** A platform admin key, resolved: allowed every admin action on every tenant. */
export interface PlatformPrincipal {
  kind: 'platform';
  keyId: string;
  /** Every model: a platform key lists the catalog, though it calls none (no tenant to bill). */
  allowedModels: null;
  validUntil: Date | null;
}

export interface PlatformKeyServiceOptions {
  control: Kysely<ControlSchema>;
  hasher: ApiKeyHasher;
  /**
   * Writes, audits and announces each change (rotations and revocations reach every cache
   * at once). Default: one that announces nothing.
   */
  changes?: ChangeRecorder;
}

/** A key made now, and its secret: shown this once, never stored. */
type Created = Changed<PlatformKey> & { secret: string | null };

const notFound = () => new GatewayError('key_not_found', { param: 'key' });

/**
 * Platform admin keys, kept in the control plane: the keys that create and delete tenants.
 * Stored like a tenant's keys (only a keyed hash) and audited in the platform audit log.
 */
export class PlatformKeyService {
  private readonly changes: ChangeRecorder;

  constructor(private readonly options: PlatformKeyServiceOptions) {
    this.changes = options.changes ?? new ChangeRecorder();
  }

  /** The key and its index entry, in the caller's transaction. */
  private async insert(
    trx: Kysely<ControlSchema>,
    input: { name: string; expiresAt?: Date | null },
    secret?: string,
  ): Promise<Created> {
    const fresh = newSecret(this.options.hasher, secret);
    const id = newId('key');
    await new KeyIndexRepository(trx).add(fresh.hash, id, null);
    const key = await new PlatformKeyRepository(trx).insert({
      id,
      name: input.name,
      displayPrefix: fresh.displayPrefix,
      hash: fresh.hash,
      expiresAt: input.expiresAt ?? null,
    });
    return { before: null, after: key, secret: fresh.secret };
  }

  private async createWith(actor: Actor, write: (trx: Kysely<ControlSchema>) => Promise<Created>) {
    const { after, secret } = await this.changes.platform(this.options.control, actor, {
      action: 'platform_api_key.create',
      kind: PLATFORM_KEY,
      write,
    });
    return after === null || secret === null ? null : { key: after, secret };
  }

  async create(
    input: { name: string; expiresAt?: Date | null },
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ key: PlatformKey; secret: string }> {
    const created = await this.createWith(actor, (trx) => this.insert(trx, input));
    if (created === null) throw new Error('a created key is always returned');
    return created;
  }

  /**
   * The first start's admin key: `secret` when given (BOOTSTRAP_ADMIN_KEY), else a new one.
   * Only while no platform key was ever made, so a revoked bootstrap key stays revoked
   * across restarts; instances starting together take turns, so one of them makes it.
   * Returns the key made now, or null.
   */
  async bootstrap(secret?: string): Promise<{ key: PlatformKey; secret: string } | null> {
    return this.createWith(SYSTEM_ACTOR, async (trx) => {
      if (await new PlatformKeyRepository(trx).anyEver())
        return { before: null, after: null, secret: null };
      return this.insert(trx, { name: 'bootstrap' }, secret);
    });
  }

  async list(): Promise<PlatformKey[]> {
    return new PlatformKeyRepository(this.options.control).list();
  }

  async get(keyId: string): Promise<PlatformKey> {
    const key = await new PlatformKeyRepository(this.options.control).find(keyId);
    if (key === null) throw notFound();
    return key;
  }

  /** A new secret; the old one keeps working for `graceSeconds`, then never again. */
  async rotate(
    keyId: string,
    graceSeconds: number,
    now = new Date(),
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ key: PlatformKey; secret: string }> {
    const fresh = newSecret(this.options.hasher);
    const { after } = await this.changes.platform(this.options.control, actor, {
      action: 'platform_api_key.rotate',
      kind: PLATFORM_KEY,
      write: async (trx) => {
        const keys = new PlatformKeyRepository(trx);
        const index = new KeyIndexRepository(trx);
        const current = await keys.findWithSecrets(keyId, true);
        if (current === null || current.key.revokedAt !== null) throw notFound();
        await index.add(fresh.hash, keyId, null);
        // The secret before the previous rotation stops now; only the one replaced here lingers.
        const older = current.secrets.previous_key_hash;
        if (older !== null) await index.removeHash(older);
        const rotated = await keys.rotate(keyId, {
          hash: fresh.hash,
          displayPrefix: fresh.displayPrefix,
          previousHash: current.secrets.key_hash,
          previousValidUntil: new Date(now.getTime() + graceSeconds * 1000),
        });
        return { before: current.key, after: rotated };
      },
      invalidate: () => ({ keyId }),
    });
    return { key: after, secret: fresh.secret };
  }

  /**
   * Ends a key at once. With `keepOne` (the admin API), the last key that still works is
   * refused: revoking it over HTTP would lock every admin out; the CLI, which needs no key,
   * may still do it.
   */
  async revoke(
    keyId: string,
    now = new Date(),
    actor: Actor = SYSTEM_ACTOR,
    { keepOne = false }: { keepOne?: boolean } = {},
  ): Promise<PlatformKey> {
    const { after } = await this.changes.platform(this.options.control, actor, {
      action: 'platform_api_key.revoke',
      kind: PLATFORM_KEY,
      write: async (trx) => {
        const keys = new PlatformKeyRepository(trx);
        const before = await keys.findWithSecrets(keyId, true);
        if (before === null) throw notFound();
        if (keepOne && before.key.revokedAt === null && (await keys.activeOthers(keyId, now)) === 0)
          throw new GatewayError('last_platform_key', { param: 'key' });
        const revoked = await keys.revoke(keyId, now);
        await new KeyIndexRepository(trx).removeKey(keyId);
        return { before: before.key, after: revoked };
      },
      invalidate: () => ({ keyId }),
    });
    return after;
  }

  /** The principal behind a key the index says is a platform key. */
  async resolve(keyId: string, hash: string, now: Date): Promise<PlatformPrincipal> {
    const stored = await new PlatformKeyRepository(this.options.control).findWithSecrets(keyId);
    if (stored === null) throw invalidKey();
    return {
      kind: 'platform',
      keyId: stored.key.id,
      allowedModels: null,
      validUntil: validUntil(stored.secrets, hash, now),
    };
  }

  async touch(keyId: string, at: Date): Promise<void> {
    await new PlatformKeyRepository(this.options.control).touch(keyId, at);
  }
}
