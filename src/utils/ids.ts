import { randomBytes } from 'node:crypto';

/**
 * A typed, time-sortable id: `tnt_`, `usr_`, `key_`, `req_`... then the time in base 36 and
 * 64 random bits, so a log line reads at a glance and ids sort by creation. Lowercase only,
 * so an id can be part of a database name.
 */
export function newId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36).padStart(9, '0')}${randomBytes(8).toString('hex')}`;
}
