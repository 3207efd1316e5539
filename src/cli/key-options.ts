import type { KeyLifecycle } from '../domain/api-key.js';
import { UsageError } from './tenant-commands.js';

/** The options tenant and platform key commands share, read the same way. */

export function keyState(key: KeyLifecycle, now = new Date()): 'revoked' | 'expired' | 'active' {
  if (key.revokedAt) return 'revoked';
  if (key.expiresAt && key.expiresAt <= now) return 'expired';
  return 'active';
}

/** `--expires`: absent for a key that never expires. */
export function expiryOption(value: string | undefined): Date | null {
  if (value === undefined) return null;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new UsageError(`--expires is not a date: '${value}'`);
  return date;
}

/** `--grace-seconds`, an hour unless given. */
export function graceOption(value: string | undefined): number {
  const grace = Number(value ?? '3600');
  if (!Number.isInteger(grace) || grace < 0)
    throw new UsageError('--grace-seconds must be a whole number');
  return grace;
}
