import { type Kysely, type Selectable, sql } from 'kysely';
import type { PlatformKey } from '../../domain/api-key.js';
import type { ControlSchema, PlatformApiKeysTable } from '../control-schema.js';
import { lifecycleOf, type StoredSecrets } from './api-keys.js';

export interface NewPlatformKey {
  id: string;
  name: string;
  displayPrefix: string;
  hash: string;
  expiresAt: Date | null;
}

function toPlatformKey(row: Selectable<PlatformApiKeysTable>): PlatformKey {
  return { id: row.id, name: row.name, displayPrefix: row.display_prefix, ...lifecycleOf(row) };
}

/** The platform admin keys, in the control plane. */
export class PlatformKeyRepository {
  constructor(private readonly db: Kysely<ControlSchema>) {}

  async list(): Promise<PlatformKey[]> {
    const rows = await this.db.selectFrom('platform_api_keys').selectAll().orderBy('id').execute();
    return rows.map(toPlatformKey);
  }

  async find(id: string): Promise<PlatformKey | null> {
    return (await this.findWithSecrets(id))?.key ?? null;
  }

  /** The key and its stored secrets, for resolving a secret; locked inside a transaction. */
  async findWithSecrets(
    id: string,
    lock = false,
  ): Promise<{ key: PlatformKey; secrets: StoredSecrets } | null> {
    let query = this.db.selectFrom('platform_api_keys').selectAll().where('id', '=', id);
    if (lock) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    return row === undefined ? null : { key: toPlatformKey(row), secrets: row };
  }

  /**
   * Whether any platform key was ever made, revoked ones included. Inside a transaction,
   * callers take turns first (an advisory lock held until it ends), so two first starts
   * cannot both find none.
   */
  async anyEver(): Promise<boolean> {
    await sql`select pg_advisory_xact_lock(hashtext('platform_api_keys.bootstrap'))`.execute(
      this.db,
    );
    const found = await this.db
      .selectFrom('platform_api_keys')
      .select('id')
      .limit(1)
      .executeTakeFirst();
    return found !== undefined;
  }

  /**
   * How many keys besides `id` still work at `now` (neither revoked nor expired). Inside a
   * transaction, callers take turns first, so two revocations at once cannot both see the
   * other's key as the one left.
   */
  async activeOthers(id: string, now: Date): Promise<number> {
    await sql`select pg_advisory_xact_lock(hashtext('platform_api_keys.revoke'))`.execute(this.db);
    const row = await this.db
      .selectFrom('platform_api_keys')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('id', '!=', id)
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async insert(key: NewPlatformKey): Promise<PlatformKey> {
    const row = await this.db
      .insertInto('platform_api_keys')
      .values({
        id: key.id,
        name: key.name,
        display_prefix: key.displayPrefix,
        key_hash: key.hash,
        previous_key_hash: null,
        previous_valid_until: null,
        expires_at: key.expiresAt,
        revoked_at: null,
        last_used_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toPlatformKey(row);
  }

  /** A new current secret; the one it replaces stays valid until `previousValidUntil`. */
  async rotate(
    id: string,
    secret: { hash: string; displayPrefix: string; previousHash: string; previousValidUntil: Date },
  ): Promise<PlatformKey> {
    const row = await this.db
      .updateTable('platform_api_keys')
      .set({
        key_hash: secret.hash,
        display_prefix: secret.displayPrefix,
        previous_key_hash: secret.previousHash,
        previous_valid_until: secret.previousValidUntil,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toPlatformKey(row);
  }

  async revoke(id: string, at: Date): Promise<PlatformKey> {
    const row = await this.db
      .updateTable('platform_api_keys')
      .set({ revoked_at: at, previous_key_hash: null, previous_valid_until: null })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toPlatformKey(row);
  }

  /** Moves `last_used_at` forward only: batches from several instances may arrive late. */
  async touch(id: string, at: Date): Promise<void> {
    await this.db
      .updateTable('platform_api_keys')
      .set({ last_used_at: at })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
      .execute();
  }
}
