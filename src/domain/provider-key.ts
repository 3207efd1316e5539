import type { EntityKind } from './entity.js';

/**
 * A tenant's own key for one provider. Never the key or its envelope: only its hint, which
 * tells keys apart without being any use.
 */
export interface ProviderKey {
  /** The provider's id in the config file: one key per provider, so also the key's id. */
  provider: string;
  /** The key's last 4 characters; empty for keys under 12 characters. */
  hint: string;
  createdAt: Date;
  /** The actor, as the audit log names actors: `key:key_...`, `cli:alice`. */
  createdBy: string | null;
  updatedAt: Date;
  updatedBy: string | null;
}

export function providerKeyJson(key: ProviderKey) {
  return {
    object: 'provider_key' as const,
    provider: key.provider,
    hint: key.hint,
    created_at: key.createdAt.toISOString(),
    created_by: key.createdBy,
    updated_at: key.updatedAt.toISOString(),
    updated_by: key.updatedBy,
  };
}

export const PROVIDER_KEY: EntityKind<ProviderKey> = {
  object: 'provider_key',
  id: (key) => key.provider,
  json: providerKeyJson,
};
