import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  API_KEY_PREFIX,
  generateApiKey,
  isWellFormedApiKey,
  parseApiKey,
} from '../../src/domain/key-format.js';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_PATTERN = /^llmb_[0-9A-Za-z]{38}$/;

function replaceAt(text: string, index: number, char: string): string {
  return text.slice(0, index) + char + text.slice(index + 1);
}

function base62(value: number, width: number): string {
  let out = '';
  for (let i = 0, rest = value; i < width; i++, rest = Math.floor(rest / 62)) {
    out = ALPHABET[rest % 62] + out;
  }
  return out;
}

describe('generateApiKey', () => {
  it('produces well-formed keys that parse', () => {
    for (let i = 0; i < 100; i++) {
      const key = generateApiKey();
      expect(key).toHaveLength(43);
      expect(key.startsWith(API_KEY_PREFIX)).toBe(true);
      expect(key).toMatch(KEY_PATTERN);
      expect(parseApiKey(key)).toEqual({ ok: true, key, displayPrefix: key.slice(0, 13) });
      expect(isWellFormedApiKey(key)).toBe(true);
    }
  });

  it('is unique over 1,000 draws', () => {
    const keys = new Set(Array.from({ length: 1000 }, generateApiKey));
    expect(keys.size).toBe(1000);
  });

  it('uses the whole base62 alphabet in the random part', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      for (const char of generateApiKey().slice(5, 37)) seen.add(char);
    }
    expect([...seen].sort().join('')).toBe([...ALPHABET].sort().join(''));
  });

  it.skipIf(typeof zlib.crc32 !== 'function')('uses the standard IEEE CRC32 as checksum', () => {
    for (let i = 0; i < 200; i++) {
      const key = generateApiKey();
      expect(key.slice(37)).toBe(base62(zlib.crc32(key.slice(0, 37)), 6));
    }
  });
});

describe('parseApiKey', () => {
  it('rejects every single-character change to the random part or checksum', () => {
    for (let draw = 0; draw < 5; draw++) {
      const key = generateApiKey();
      for (let index = API_KEY_PREFIX.length; index < key.length; index++) {
        for (const char of ALPHABET) {
          if (char === key[index]) continue;
          expect(parseApiKey(replaceAt(key, index, char))).toEqual({
            ok: false,
            reason: 'checksum',
          });
        }
      }
    }
  });

  it('rejects every single-character change to the prefix', () => {
    const key = generateApiKey();
    for (let index = 0; index < API_KEY_PREFIX.length; index++) {
      const other = key[index] === 'a' ? 'b' : 'a';
      expect(parseApiKey(replaceAt(key, index, other))).toEqual({ ok: false, reason: 'format' });
    }
  });

  it('rejects malformed input with format and never throws', () => {
    const key = generateApiKey();
    const lookalike = key.slice(0, 20) + key.slice(20).replace(/[a-z0-9]/, (c) => `${c}\u0301`);
    const bad = [
      '',
      'llmb_',
      `sk_${key.slice(3)}`,
      `LLMB_${key.slice(5)}`,
      key.slice(0, -1),
      `${key}A`,
      `${key}\n`,
      ` ${key.slice(1)}`,
      replaceAt(key, 10, '-'),
      replaceAt(key, 10, '_'),
      replaceAt(key, 10, '\u0430'), // Cyrillic a
      replaceAt(key, 10, '\uff21'), // fullwidth A
      replaceAt(key, 0, '\u217c'), // Roman numeral fifty, looks like l
      `\uff4c\uff4c\uff4d\uff42_${key.slice(5)}`, // fullwidth prefix
      lookalike.slice(0, 43),
      'x'.repeat(1024 * 1024),
      `llmb_${'A'.repeat(1024 * 1024)}`,
      '\ud800'.repeat(43),
      '😀'.repeat(22),
    ];
    for (const value of bad) {
      expect(parseApiKey(value)).toEqual({ ok: false, reason: 'format' });
      expect(isWellFormedApiKey(value)).toBe(false);
    }
    for (const value of [null, undefined, 42, {}] as unknown as string[]) {
      expect(parseApiKey(value)).toEqual({ ok: false, reason: 'format' });
    }
  });

  it('gives a 13-character display prefix that is never the whole key', () => {
    const key = generateApiKey();
    const parsed = parseApiKey(key);
    if (!parsed.ok) throw new Error('expected a valid key');
    expect(parsed.displayPrefix).toHaveLength(13);
    expect(parsed.displayPrefix).toBe(key.slice(0, 13));
    expect(parsed.displayPrefix).not.toBe(key);
    expect(key.startsWith(parsed.displayPrefix)).toBe(true);
  });
});
