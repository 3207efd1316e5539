import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

export type ChainLink = {
  hash: string;
  previousHash: string;
  entry: Record<string, unknown>;
};

export type ChainVerification =
  | { ok: true; count: number }
  | { ok: false; index: number; reason: 'previous_hash_mismatch' | 'hash_mismatch' };

/**
 * JSON whose bytes depend only on the data, so a hash of it survives a round trip through
 * the database. Anything JSON.stringify would silently alter or drop (NaN, Maps, class
 * instances, cycles) is refused instead, because a lossy audit entry cannot be verified.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, new Set<object>());
}

function encode(value: unknown, ancestors: Set<object>): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') {
    return JSON.stringify(value);
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new TypeError(`canonicalJson: non-finite number ${value}`);
    }
    return JSON.stringify(value);
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) {
      throw new TypeError('canonicalJson: invalid Date');
    }
    return JSON.stringify(value.toISOString());
  }
  if (typeof value !== 'object') {
    throw new TypeError(`canonicalJson: unsupported ${typeof value}`);
  }
  if (ancestors.has(value)) {
    throw new TypeError('canonicalJson: circular reference');
  }
  ancestors.add(value);
  const text = Array.isArray(value)
    ? encodeArray(value, ancestors)
    : encodeObject(value, ancestors);
  ancestors.delete(value);
  return text;
}

function encodeArray(items: unknown[], ancestors: Set<object>): string {
  const parts: string[] = [];
  // Indexed loop so holes are seen; JSON would turn them (and undefined) into null.
  for (let i = 0; i < items.length; i++) {
    if (items[i] === undefined) {
      throw new TypeError(`canonicalJson: undefined array element at ${i}`);
    }
    parts.push(encode(items[i], ancestors));
  }
  return `[${parts.join(',')}]`;
}

function encodeObject(value: object, ancestors: Set<object>): string {
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError('canonicalJson: only plain objects, arrays and Dates are allowed');
  }
  if (Object.getOwnPropertySymbols(value).length > 0) {
    throw new TypeError('canonicalJson: symbol keys are not allowed');
  }
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    if (record[key] !== undefined) {
      parts.push(`${JSON.stringify(key)}:${encode(record[key], ancestors)}`);
    }
  }
  return `{${parts.join(',')}}`;
}

export function chainHash(previousHash: string, entry: Record<string, unknown>): string {
  return createHash('sha256')
    .update(`${previousHash}\n${canonicalJson(entry)}`, 'utf8')
    .digest('hex');
}

/**
 * Finds the first broken link. A chain alone cannot show that entries were cut from its
 * end: callers must compare the final hash or the count with a copy kept elsewhere.
 */
export function verifyChain(links: Iterable<ChainLink>): ChainVerification {
  let expectedPrevious = GENESIS_HASH;
  let index = 0;
  for (const link of links) {
    if (link.previousHash !== expectedPrevious) {
      return { ok: false, index, reason: 'previous_hash_mismatch' };
    }
    if (!hashMatches(link)) {
      return { ok: false, index, reason: 'hash_mismatch' };
    }
    expectedPrevious = link.hash;
    index++;
  }
  return { ok: true, count: index };
}

function hashMatches(link: ChainLink): boolean {
  try {
    return link.hash === chainHash(link.previousHash, link.entry);
  } catch {
    // Stored data that cannot be canonicalised cannot match any hash we wrote.
    return false;
  }
}
