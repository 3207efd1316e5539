import { type Kysely, type Selectable, sql } from 'kysely';
import { type PlatformKey, platformKeyJson } from '../../domain/api-key.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ControlSchema, PlatformApiKeysTable } from '../../storage/control-schema.js';
import { lifecycleOf } from '../../storage/repositories/api-keys.js';
import { newId } from '../../utils/ids.js';
import { type Actor, appendAudit, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { InvalidationBus } from './invalidation.js';
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
  bus?: InvalidationBus;
}

function toPlatformKey(row: Selectable<PlatformApiKeysTable>): PlatformKey {
  return { id: row.id, name: row.name, displayPrefix: row.display_prefix, ...lifecycleOf(row) };
}

const notFound = () => new GatewayError('key_not_found', { param: 'key' });

/**
 * Platform admin keys, kept in the control plane: the keys that create and delete tenants.
 * Stored like a tenant's keys (only a keyed hash) and audited in the platform audit log.
 */
export class PlatformKeyService {
  constructor(private readonly options: PlatformKeyServiceOptions) {}

  private async audit(
    db: Kysely<ControlSchema>,
    actor: Actor,
    action: string,
    before: PlatformKey | null,
    after: PlatformKey,
  ) {
    await appendAudit(db as Kysely<unknown>, 'platform_audit_log', actor, {
      action,
      targetType: 'platform_api_key',
      targetId: after.id,
      before: before && platformKeyJson(before),
      after: platformKeyJson(after),
    });
  }

  private async insert(
    db: Kysely<ControlSchema>,
    input: { name: string; expiresAt?: Date | null },
    secret?: string,
  ): Promise<{ key: PlatformKey; secret: string }> {
    const fresh = newSecret(this.options.hasher, secret);
    const id = newId('key');
    await db
      .insertInto('api_key_index')
      .values({ key_hash: fresh.hash, key_id: id, tenant_id: null })
      .execute();
    const row = await db
      .insertInto('platform_api_keys')
      .values({
        id,
        name: input.name,
        display_prefix: fresh.displayPrefix,
        key_hash: fresh.hash,
        previous_key_hash: null,
        previous_valid_until: null,
        expires_at: input.expiresAt ?? null,
        revoked_at: null,
        last_used_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { key: toPlatformKey(row), secret: fresh.secret };
  }

  async create(
    input: { name: string; expiresAt?: Date | null },
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ key: PlatformKey; secret: string }> {
    return this.options.control.transaction().execute(async (trx) => {
      const created = await this.insert(trx, input);
      await this.audit(trx, actor, 'platform_api_key.create', null, created.key);
      return created;
    });
  }

  /**
   * The first start's admin key: `secret` when given (BOOTSTRAP_ADMIN_KEY), else a new one.
   * Only while no platform key was ever made, so a revoked bootstrap key stays revoked
   * across restarts; instances starting together take turns on an advisory lock, so one
   * of them makes it. Returns the key made now, or null.
   */
  async bootstrap(secret?: string): Promise<{ key: PlatformKey; secret: string } | null> {
    return this.options.control.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(hashtext('platform_api_keys.bootstrap'))`.execute(trx);
      const existing = await trx
        .selectFrom('platform_api_keys')
        .select('id')
        .limit(1)
        .executeTakeFirst();
      if (existing !== undefined) return null;
      const created = await this.insert(trx, { name: 'bootstrap' }, secret);
      await this.audit(trx, SYSTEM_ACTOR, 'platform_api_key.create', null, created.key);
      return created;
    });
  }

  async list(): Promise<PlatformKey[]> {
    const rows = await this.options.control
      .selectFrom('platform_api_keys')
      .selectAll()
      .orderBy('id')
      .execute();
    return rows.map(toPlatformKey);
  }

  async get(keyId: string): Promise<PlatformKey> {
    const row = await this.options.control
      .selectFrom('platform_api_keys')
      .selectAll()
      .where('id', '=', keyId)
      .executeTakeFirst();
    if (row === undefined) throw notFound();
    return toPlatformKey(row);
  }

  /** A new secret; the old one keeps working for `graceSeconds`, then never again. */
  async rotate(
    keyId: string,
    graceSeconds: number,
    now = new Date(),
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ key: PlatformKey; secret: string }> {
    const rotated = await this.options.control.transaction().execute(async (trx) => {
      const current = await trx
        .selectFrom('platform_api_keys')
        .selectAll()
        .where('id', '=', keyId)
        .forUpdate()
        .executeTakeFirst();
      if (current === undefined || current.revoked_at !== null) throw notFound();
      const fresh = newSecret(this.options.hasher);
      await trx
        .insertInto('api_key_index')
        .values({ key_hash: fresh.hash, key_id: keyId, tenant_id: null })
        .execute();
      // The secret before the previous rotation stops now; only the one replaced here lingers.
      if (current.previous_key_hash !== null) {
        await trx
          .deleteFrom('api_key_index')
          .where('key_hash', '=', current.previous_key_hash)
          .execute();
      }
      const row = await trx
        .updateTable('platform_api_keys')
        .set({
          key_hash: fresh.hash,
          display_prefix: fresh.displayPrefix,
          previous_key_hash: current.key_hash,
          previous_valid_until: new Date(now.getTime() + graceSeconds * 1000),
        })
        .where('id', '=', keyId)
        .returningAll()
        .executeTakeFirstOrThrow();
      const key = toPlatformKey(row);
      await this.audit(trx, actor, 'platform_api_key.rotate', toPlatformKey(current), key);
      return { key, secret: fresh.secret };
    });
    await this.options.bus?.publish({ keyId });
    return rotated;
  }

  async revoke(keyId: string, now = new Date(), actor: Actor = SYSTEM_ACTOR): Promise<PlatformKey> {
    const key = await this.options.control.transaction().execute(async (trx) => {
      const before = await trx
        .selectFrom('platform_api_keys')
        .selectAll()
        .where('id', '=', keyId)
        .forUpdate()
        .executeTakeFirst();
      if (before === undefined) throw notFound();
      const row = await trx
        .updateTable('platform_api_keys')
        .set({ revoked_at: now, previous_key_hash: null, previous_valid_until: null })
        .where('id', '=', keyId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await trx.deleteFrom('api_key_index').where('key_id', '=', keyId).execute();
      const after = toPlatformKey(row);
      await this.audit(trx, actor, 'platform_api_key.revoke', toPlatformKey(before), after);
      return after;
    });
    await this.options.bus?.publish({ keyId });
    return key;
  }

  /** The principal behind a key the index says is a platform key. */
  async resolve(keyId: string, hash: string, now: Date): Promise<PlatformPrincipal> {
    const row = await this.options.control
      .selectFrom('platform_api_keys')
      .selectAll()
      .where('id', '=', keyId)
      .executeTakeFirst();
    if (row === undefined) throw invalidKey();
    return {
      kind: 'platform',
      keyId: row.id,
      allowedModels: null,
      validUntil: validUntil(row, hash, now),
    };
  }

  async touch(keyId: string, at: Date): Promise<void> {
    await this.options.control
      .updateTable('platform_api_keys')
      .set({ last_used_at: at })
      .where('id', '=', keyId)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
      .execute();
  }
}
