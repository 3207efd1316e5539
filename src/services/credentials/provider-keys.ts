import { PROVIDER_KEY, type ProviderKey } from '../../domain/provider-key.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { ProviderKeyRepository } from '../../storage/repositories/provider-keys.js';
import { type Actor, SYSTEM_ACTOR } from '../audit/audit-log.js';
import type { ChangeRecorder } from '../audit/changes.js';
import type { InvalidationBus } from '../keys/invalidation.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { EnvelopeCipher } from './envelope.js';
import type { KeyRing, RewrapResult } from './key-ring.js';
import { type OpenedKeys, ProviderKeyCache } from './provider-key-cache.js';

export type { ProviderKey };

export interface ProviderKeyServiceOptions {
  tenants: TenantService;
  /** The key-encryption keys (purpose `provider-keys`), current and during a rotation previous. */
  ring: KeyRing;
  /** Where the cache hears of changes made on any instance. */
  bus?: InvalidationBus;
  /** Writes, audits and announces each change, so every instance's cache drops the tenant. */
  changes: ChangeRecorder;
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
    const { db } = await this.options.tenants.open(tenantRef);
    return new ProviderKeyRepository(db).list();
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
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const key = {
      provider,
      sealed: this.cipher.seal(secret, contextOf(tenant.id, provider)),
      hint: secret.length >= HINT_MIN_LENGTH ? secret.slice(-4) : '',
      by: actorName(actor),
    };
    const { before, after } = await this.options.changes.tenant(db, actor, {
      action: 'provider_key.set',
      kind: PROVIDER_KEY,
      write: async (trx) => {
        const keys = new ProviderKeyRepository(trx);
        const before = await keys.find(provider);
        return { before, after: await keys.upsert(key) };
      },
      // The bus knows no finer message than the tenant: its cached API keys and limits are
      // reloaded once as well, which a rare change can afford.
      invalidate: () => ({ tenantId: tenant.id }),
    });
    return { key: after, created: before === null };
  }

  /** Removes the tenant's key: its requests use the platform's key again, on every instance. */
  async delete(
    tenantRef: string,
    provider: string,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<ProviderKey> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    // No check against the config: a key stays removable after its provider left the file.
    const { before } = await this.options.changes.tenant(db, actor, {
      action: 'provider_key.delete',
      kind: PROVIDER_KEY,
      write: async (trx) => {
        const key = await new ProviderKeyRepository(trx).delete(provider);
        if (key === null) throw new GatewayError('provider_key_not_found', { param: 'provider' });
        return { before: key, after: null };
      },
      invalidate: () => ({ tenantId: tenant.id }),
    });
    return before;
  }

  /**
   * Re-seals the data keys of the tenant's provider keys that are still under the previous
   * master key; the keys themselves are not re-encrypted. A row written meanwhile is left as
   * it is (it was sealed under the current key anyway).
   */
  async rewrap(tenantRef: string): Promise<RewrapResult> {
    const { tenant, db } = await this.options.tenants.open(tenantRef);
    const keys = new ProviderKeyRepository(db);
    const result: RewrapResult = { rewrapped: 0, current: 0, failed: [] };
    for (const { provider, sealed } of await keys.sealed()) {
      try {
        const rewrapped = this.cipher.rewrap(sealed, contextOf(tenant.id, provider));
        if (rewrapped === null) {
          result.current += 1;
          continue;
        }
        await keys.resealDataKey(provider, sealed.dataKeySealed, rewrapped.dataKeySealed);
        result.rewrapped += 1;
      } catch (error) {
        result.failed.push({ id: provider, error: (error as Error).message });
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
    const { tenant, db } = await this.options.tenants.open(tenantId);
    const opened = new Map<string, string | Error>();
    for (const { provider, sealed } of await new ProviderKeyRepository(db).sealed()) {
      try {
        opened.set(provider, this.cipher.open(sealed, contextOf(tenant.id, provider)));
      } catch (error) {
        opened.set(
          provider,
          new GatewayError('provider_key_unreadable', { param: null, cause: error }),
        );
      }
    }
    return opened;
  }
}
