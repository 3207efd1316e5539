import type { Kysely, Selectable } from 'kysely';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ProviderKeysTable, TenantSchema } from '../../storage/tenant-schema.js';
import { type Actor, appendAudit, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { InvalidationBus } from '../keys/invalidation.js';
import type { Tenant, TenantService } from '../tenancy/tenant-service.js';
import { EnvelopeCipher } from './envelope.js';
import type { KeyRing, RewrapResult } from './key-ring.js';
import { type OpenedKeys, ProviderKeyCache } from './provider-key-cache.js';

/** A tenant's key for one provider as the API shows it: never the key itself. */
export interface ProviderKey {
  provider: string;
  /** The key's last 4 characters, to tell keys apart; empty for keys under 12 characters. */
  hint: string;
  createdAt: Date;
  createdBy: string | null;
  updatedAt: Date;
  updatedBy: string | null;
}

export function providerKeyJson(key: ProviderKey) {
  return {
    provider: key.provider,
    hint: key.hint,
    created_at: key.createdAt.toISOString(),
    created_by: key.createdBy,
    updated_at: key.updatedAt.toISOString(),
    updated_by: key.updatedBy,
  };
}

export interface ProviderKeyServiceOptions {
  tenants: TenantService;
  /** The key-encryption keys (purpose `provider-keys`), current and during a rotation previous. */
  ring: KeyRing;
  /** Told of every change, so every instance's cache drops the tenant at once. */
  bus?: InvalidationBus;
  /** The providers whose config allows tenants' own keys (`tenant_keys: true`). */
  tenantKeyProviders: ReadonlySet<string>;
  /** Every configured provider; one in neither set is unknown (404). Default: none more. */
  providers?: ReadonlySet<string>;
  /** How long opened keys are reused without a fresh look: a safety net behind the bus. */
  ttlMs?: number;
}

/** The HKDF label of the key that seals provider keys' data keys. */
export const PROVIDER_KEYS_PURPOSE = 'provider-keys';

export const API_KEY_MAX = 4096;
// Printable ASCII without spaces: the key goes into a header, where a line break would inject.
const API_KEY_PATTERN = /^[\x21-\x7e]+$/;
const HINT_MIN_LENGTH = 12;

/** What binds a sealed key to its row: a copy under another tenant or provider does not open. */
const contextOf = (tenantId: string, provider: string) =>
  `provider_key:${JSON.stringify([tenantId, provider])}`;

/** By type and id, as the audit log names actors: `key:key_...`, `cli:alice`. */
const actorName = (actor: Actor) => `${actor.type}:${actor.id ?? ''}`;

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

function validApiKey(value: unknown): string {
  if (typeof value !== 'string' || value.length > API_KEY_MAX || !API_KEY_PATTERN.test(value)) {
    // Never echoed: it is a secret, however mistyped.
    throw new GatewayError('invalid_request', {
      message: `api_key must be 1 to ${API_KEY_MAX} printable ASCII characters, without spaces.`,
      param: 'api_key',
    });
  }
  return value;
}

/**
 * Tenants' own keys for providers that allow them (bring your own key). Stored sealed in the
 * tenant's database (envelope encryption, see envelope.ts), shown never again after they are
 * set, and opened into memory only for the request path (`keyFor`).
 */
export class ProviderKeyService {
  private readonly cipher: EnvelopeCipher;
  private readonly cache: ProviderKeyCache;

  constructor(private readonly options: ProviderKeyServiceOptions) {
    this.cipher = new EnvelopeCipher(options.ring);
    this.cache = new ProviderKeyCache(
      (tenantId) => this.openAll(tenantId),
      options.bus,
      options.ttlMs ?? 60_000,
    );
  }

  /**
   * The tenant's own key for the provider, or null: the provider takes no tenant keys, or
   * the tenant stored none (use the platform's key then). No database query once warm. Throws
   * `provider_key_unreadable` for a stored key that does not open: falling back to the
   * platform's key would bill the platform for the tenant's traffic.
   */
  async keyFor(tenantId: string, providerId: string): Promise<string | null> {
    if (!this.options.tenantKeyProviders.has(providerId)) return null;
    return this.cache.get(tenantId, providerId);
  }

  async list(tenantRef: string): Promise<ProviderKey[]> {
    const { db } = await this.open(tenantRef);
    const rows = await db.selectFrom('provider_keys').selectAll().orderBy('provider').execute();
    return rows.map(toProviderKey);
  }

  /** Stores the tenant's key for the provider, replacing any; `created` tells which. */
  async set(
    tenantRef: string,
    provider: string,
    apiKey: string,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<{ key: ProviderKey; created: boolean }> {
    this.checkProvider(provider);
    const secret = validApiKey(apiKey);
    const { tenant, db } = await this.open(tenantRef);
    const sealed = this.cipher.seal(secret, contextOf(tenant.id, provider));
    const hint = secret.length >= HINT_MIN_LENGTH ? secret.slice(-4) : '';
    const by = actorName(actor);
    const now = new Date();
    const before = await db
      .selectFrom('provider_keys')
      .selectAll()
      .where('provider', '=', provider)
      .executeTakeFirst();
    const row = await db
      .insertInto('provider_keys')
      .values({
        provider,
        secret_sealed: sealed.secretSealed,
        data_key_sealed: sealed.dataKeySealed,
        hint,
        created_at: now,
        created_by: by,
        updated_at: now,
        updated_by: by,
      })
      .onConflict((conflict) =>
        conflict.column('provider').doUpdateSet({
          secret_sealed: sealed.secretSealed,
          data_key_sealed: sealed.dataKeySealed,
          hint,
          updated_at: now,
          updated_by: by,
        }),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
    const key = toProviderKey(row);
    const previous = before === undefined ? null : toProviderKey(before);
    await this.audit(db, actor, 'provider_key.set', previous, key);
    // The bus knows no finer message than the tenant: its cached API keys and limits are
    // reloaded once as well, which a rare change can afford.
    await this.options.bus?.publish({ tenantId: tenant.id });
    return { key, created: before === undefined };
  }

  /** Removes the tenant's key: its requests use the platform's key again, on every instance. */
  async delete(tenantRef: string, provider: string, actor: Actor = SYSTEM_ACTOR) {
    const { tenant, db } = await this.open(tenantRef);
    // No check against the config: a key stays removable after its provider left the file.
    const row = await db
      .deleteFrom('provider_keys')
      .where('provider', '=', provider)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw new GatewayError('provider_key_not_found', { param: 'provider' });
    const key = toProviderKey(row);
    await this.audit(db, actor, 'provider_key.delete', key, null);
    await this.options.bus?.publish({ tenantId: tenant.id });
    return key;
  }

  /**
   * Re-seals the data keys of the tenant's provider keys that are still under the previous
   * master key; the keys themselves are not re-encrypted. A row written meanwhile is left as
   * it is (it was sealed under the current key anyway).
   */
  async rewrap(tenantRef: string): Promise<RewrapResult> {
    const { tenant, db } = await this.open(tenantRef);
    const rows = await db.selectFrom('provider_keys').selectAll().orderBy('provider').execute();
    const result: RewrapResult = { rewrapped: 0, current: 0, failed: [] };
    for (const row of rows) {
      const envelope = { secretSealed: row.secret_sealed, dataKeySealed: row.data_key_sealed };
      try {
        const rewrapped = this.cipher.rewrap(envelope, contextOf(tenant.id, row.provider));
        if (rewrapped === null) {
          result.current += 1;
          continue;
        }
        await db
          .updateTable('provider_keys')
          .set({ data_key_sealed: rewrapped.dataKeySealed })
          .where('provider', '=', row.provider)
          .where('data_key_sealed', '=', row.data_key_sealed)
          .execute();
        result.rewrapped += 1;
      } catch (error) {
        result.failed.push({ id: row.provider, error: (error as Error).message });
      }
    }
    return result;
  }

  /** Drops every opened key from memory. */
  clearCache(): void {
    this.cache.clear();
  }

  private checkProvider(provider: string): void {
    if (this.options.tenantKeyProviders.has(provider)) return;
    if (!this.options.providers?.has(provider))
      throw new GatewayError('provider_not_found', {
        message: `No provider '${provider}' is configured.`,
        param: 'provider',
      });
    throw new GatewayError('invalid_request', {
      message: `Provider '${provider}' does not take tenants' own keys (tenant_keys in the config file).`,
      param: 'provider',
    });
  }

  /** Every stored key of the tenant, opened; one that does not open is kept as its error. */
  private async openAll(tenantId: string): Promise<OpenedKeys> {
    const { tenant, db } = await this.open(tenantId);
    const rows = await db
      .selectFrom('provider_keys')
      .select(['provider', 'secret_sealed', 'data_key_sealed'])
      .execute();
    const opened = new Map<string, string | Error>();
    for (const row of rows) {
      const envelope = { secretSealed: row.secret_sealed, dataKeySealed: row.data_key_sealed };
      try {
        opened.set(row.provider, this.cipher.open(envelope, contextOf(tenant.id, row.provider)));
      } catch (error) {
        opened.set(
          row.provider,
          new GatewayError('provider_key_unreadable', { param: null, cause: error }),
        );
      }
    }
    return opened;
  }

  private async audit(
    db: Kysely<TenantSchema>,
    actor: Actor,
    action: string,
    before: ProviderKey | null,
    after: ProviderKey | null,
  ): Promise<void> {
    const target = (after ?? before) as ProviderKey;
    // The JSON the API shows: provider, hint and times, never the key or its envelope.
    await appendAudit(db as Kysely<unknown>, 'audit_log', actor, {
      action,
      targetType: 'provider_key',
      targetId: target.provider,
      before: before && providerKeyJson(before),
      after: after && providerKeyJson(after),
    });
  }

  /** A tenant being provisioned or deleted is treated as absent. */
  private async open(tenantRef: string): Promise<{ tenant: Tenant; db: Kysely<TenantSchema> }> {
    const tenant = await this.options.tenants.get(tenantRef);
    if (tenant.status === 'deleting' || tenant.status === 'provisioning') {
      throw new GatewayError('tenant_not_found', { param: 'tenant' });
    }
    return { tenant, db: this.options.tenants.database(tenant) };
  }
}
