import { randomBytes } from 'node:crypto';

// A fixed, distinctive prefix lets secret scanners (GitHub, gitleaks) recognise leaked keys.
export const API_KEY_PREFIX = 'llmb_';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const DISPLAY_RANDOM_LENGTH = 8;
const KEY_LENGTH = API_KEY_PREFIX.length + RANDOM_LENGTH + CHECKSUM_LENGTH;
const KEY_PATTERN = /^llmb_[0-9A-Za-z]{38}$/;
// Bytes at or above this would make `byte % 62` favour the low characters, so they are redrawn.
const UNBIASED_BYTE_LIMIT = 256 - (256 % ALPHABET.length);

export type ParsedApiKey =
  | { ok: true; key: string; displayPrefix: string }
  | { ok: false; reason: 'format' | 'checksum' };

const CRC32_TABLE = buildCrc32Table();

// Our own table rather than zlib.crc32 so the checksum cannot vary with the Node build;
// the tests cross-check it against zlib.
function buildCrc32Table(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) {
      c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    table[n] = c >>> 0;
  }
  return table;
}

// Only ever called on ASCII text (the prefix and base62), so char codes are the bytes.
function crc32Ascii(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    crc = (CRC32_TABLE[(crc ^ text.charCodeAt(i)) & 0xff] ?? 0) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function encodeBase62(value: number, width: number): string {
  let out = '';
  let rest = value;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[rest % ALPHABET.length] + out;
    rest = Math.floor(rest / ALPHABET.length);
  }
  return out;
}

function checksumOf(body: string): string {
  // 62^6 > 2^32, so six characters always hold the whole CRC.
  return encodeBase62(crc32Ascii(body), CHECKSUM_LENGTH);
}

function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length)) {
      if (byte < UNBIASED_BYTE_LIMIT && out.length < length) {
        out += ALPHABET[byte % ALPHABET.length];
      }
    }
  }
  return out;
}

export function generateApiKey(): string {
  const body = API_KEY_PREFIX + randomBase62(RANDOM_LENGTH);
  return body + checksumOf(body);
}

export function parseApiKey(value: string): ParsedApiKey {
  // The length test first keeps the cost flat for huge inputs; the guard covers untyped callers.
  if (typeof value !== 'string' || value.length !== KEY_LENGTH || !KEY_PATTERN.test(value)) {
    return { ok: false, reason: 'format' };
  }
  const body = value.slice(0, KEY_LENGTH - CHECKSUM_LENGTH);
  // The checksum is public information, so a plain comparison leaks nothing worth hiding.
  if (checksumOf(body) !== value.slice(KEY_LENGTH - CHECKSUM_LENGTH)) {
    return { ok: false, reason: 'checksum' };
  }
  const displayPrefix = value.slice(0, API_KEY_PREFIX.length + DISPLAY_RANDOM_LENGTH);
  return { ok: true, key: value, displayPrefix };
}

export function isWellFormedApiKey(value: string): boolean {
  return parseApiKey(value).ok;
}
