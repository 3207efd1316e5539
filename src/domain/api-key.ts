import { type EntityKind, iso } from './entity.js';
import type { TenantRole } from './roles.js';

/** The lifecycle fields every key has, tenant or platform. */
export interface KeyLifecycle {
  expiresAt: Date | null;
  revokedAt: Date | null;
  /** Until when the secret replaced by the last rotation still works. */
  previousValidUntil: Date | null;
  lastUsedAt: Date | null;
  createdAt: Date;
}

export function lifecycleJson(key: KeyLifecycle) {
  return {
    expires_at: iso(key.expiresAt),
    revoked_at: iso(key.revokedAt),
    previous_valid_until: iso(key.previousValidUntil),
    last_used_at: iso(key.lastUsedAt),
    created_at: key.createdAt.toISOString(),
  };
}

/** A tenant's API key. Never its secret or hash: those are not part of the object at all. */
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

export function apiKeyJson(key: ApiKey) {
  return {
    object: 'api_key' as const,
    id: key.id,
    name: key.name,
    display_prefix: key.displayPrefix,
    role: key.role,
    user_id: key.userId,
    allowed_models: key.allowedModels,
    ...lifecycleJson(key),
  };
}

export const API_KEY: EntityKind<ApiKey> = {
  object: 'api_key',
  id: (key) => key.id,
  json: apiKeyJson,
};

/** A platform admin key, kept in the control plane. */
export interface PlatformKey extends KeyLifecycle {
  id: string;
  name: string;
  displayPrefix: string;
}

export function platformKeyJson(key: PlatformKey) {
  return {
    object: 'platform_api_key' as const,
    id: key.id,
    name: key.name,
    display_prefix: key.displayPrefix,
    ...lifecycleJson(key),
  };
}

export const PLATFORM_KEY: EntityKind<PlatformKey> = {
  object: 'platform_api_key',
  id: (key) => key.id,
  json: platformKeyJson,
};
