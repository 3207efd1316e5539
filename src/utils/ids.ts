import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const ID_BYTES = 8;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** 64 random bits as hex, from a pool refilled 512 ids at a time: one call per id costs. */
function randomHex(): string {
  if (offset + ID_BYTES > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return hex;
}

/**
 * A typed, time-sortable id: `tnt_`, `usr_`, `key_`, `req_`... then the time in base 36 and
 * 64 random bits, so a log line reads at a glance and ids sort by creation. Lowercase only,
 * so an id can be part of a database name.
 */
export function newId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36).padStart(9, '0')}${randomHex()}`;
}
