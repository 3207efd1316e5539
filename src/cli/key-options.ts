import { Option } from 'commander';
import type { KeyLifecycle } from '../domain/api-key.js';
import { dateTime, wholeNumber } from './options.js';

/** The options tenant and platform key commands share, declared and read the same way. */

export function keyState(key: KeyLifecycle, now = new Date()): 'revoked' | 'expired' | 'active' {
  if (key.revokedAt) return 'revoked';
  if (key.expiresAt && key.expiresAt <= now) return 'expired';
  return 'active';
}

/** `--expires`: absent for a key that never expires. */
export function expiresOption(): Option {
  return new Option('--expires <time>', 'When the key stops working (ISO 8601)').argParser(
    dateTime,
  );
}

/** `--grace-seconds`: how long the replaced secret keeps working, an hour unless given. */
export function graceOption(): Option {
  return new Option('--grace-seconds <seconds>', 'How long the old secret keeps working')
    .argParser(wholeNumber(0))
    .default(3600);
}
