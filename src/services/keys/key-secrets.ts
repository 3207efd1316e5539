import { generateApiKey, parseApiKey } from '../../domain/key-format.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ApiKeyHasher } from './key-hash.js';

/** A fresh secret and what is stored of it. */
export interface NewSecret {
  secret: string;
  hash: string;
  displayPrefix: string;
}

export function newSecret(hasher: ApiKeyHasher, secret = generateApiKey()): NewSecret {
  const parsed = parseApiKey(secret);
  if (!parsed.ok) throw new TypeError('newSecret: not a well-formed API key');
  return { secret, hash: hasher.hash(secret), displayPrefix: parsed.displayPrefix };
}

/** The columns that decide whether a stored key still opens the door. */
export interface KeyValidity {
  key_hash: string;
  previous_key_hash: string | null;
  previous_valid_until: Date | string | null;
  expires_at: Date | string | null;
  revoked_at: Date | string | null;
}

export const invalidKey = () => new GatewayError('invalid_api_key');

/**
 * Whether `hash` opens the stored key now: its current secret, or the one a rotation
 * replaced while the grace period lasts. Returns until when that holds by itself (null:
 * until something changes), or throws the one refusal every failure shares.
 */
export function validUntil(row: KeyValidity, hash: string, now: Date): Date | null {
  if (row.revoked_at !== null) throw invalidKey();
  if (row.expires_at !== null && new Date(row.expires_at) <= now) throw invalidKey();
  const current = row.key_hash === hash;
  const previous =
    row.previous_key_hash === hash &&
    row.previous_valid_until !== null &&
    new Date(row.previous_valid_until) > now;
  if (!current && !previous) throw invalidKey();
  return earliest(row.expires_at, current ? null : row.previous_valid_until);
}

function earliest(...dates: (Date | string | null)[]): Date | null {
  const times = dates.filter((d) => d !== null).map((d) => new Date(d as Date | string).getTime());
  return times.length === 0 ? null : new Date(Math.min(...times));
}
