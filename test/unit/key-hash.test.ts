import { describe, expect, it } from 'vitest';
import { generateApiKey } from '../../src/domain/key-format.js';
import { ApiKeyHasher, deriveKey, safeEqualHex } from '../../src/services/keys/key-hash.js';

const MASTER = 'test-master-key-with-plenty-of-entropy';

describe('deriveKey', () => {
  it('returns 32 bytes, stable for the same inputs', () => {
    const key = deriveKey(MASTER, 'api-key-hash');
    expect(key).toBeInstanceOf(Buffer);
    expect(key).toHaveLength(32);
    expect(deriveKey(MASTER, 'api-key-hash').equals(key)).toBe(true);
  });

  it('derives different keys for different purposes and master keys', () => {
    const a = deriveKey(MASTER, 'api-key-hash');
    expect(deriveKey(MASTER, 'audit').equals(a)).toBe(false);
    expect(deriveKey(`${MASTER}!`, 'api-key-hash').equals(a)).toBe(false);
  });

  it('refuses an empty master key or purpose', () => {
    expect(() => deriveKey('', 'api-key-hash')).toThrow(TypeError);
    expect(() => deriveKey(MASTER, '')).toThrow(TypeError);
  });
});

describe('ApiKeyHasher', () => {
  const secret = deriveKey(MASTER, 'api-key-hash');

  it('gives the same 64-character hex hash for the same key and secret', () => {
    const key = generateApiKey();
    const hash = new ApiKeyHasher(secret).hash(key);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(new ApiKeyHasher(Buffer.from(secret)).hash(key)).toBe(hash);
  });

  it('gives different hashes for different secrets and different keys', () => {
    const key = generateApiKey();
    const hasher = new ApiKeyHasher(secret);
    const other = new ApiKeyHasher(deriveKey(MASTER, 'other'));
    expect(other.hash(key)).not.toBe(hasher.hash(key));
    expect(hasher.hash(generateApiKey())).not.toBe(hasher.hash(key));
  });

  it('never contains the key or its random part', () => {
    const hasher = new ApiKeyHasher(secret);
    for (let i = 0; i < 50; i++) {
      const key = generateApiKey();
      const hash = hasher.hash(key);
      expect(hash).not.toContain(key);
      expect(hash).not.toContain(key.slice(5, 13).toLowerCase());
    }
  });

  it('is unaffected by later changes to the caller secret buffer', () => {
    const mutable = Buffer.from(secret);
    const hasher = new ApiKeyHasher(mutable);
    const before = hasher.hash('llmb_x');
    mutable.fill(0);
    expect(hasher.hash('llmb_x')).toBe(before);
  });

  it('refuses secrets shorter than 32 bytes', () => {
    expect(() => new ApiKeyHasher(Buffer.alloc(16, 1))).toThrow(TypeError);
    expect(() => new ApiKeyHasher(Buffer.alloc(0))).toThrow(TypeError);
  });
});

describe('safeEqualHex', () => {
  const hash = new ApiKeyHasher(deriveKey(MASTER, 'api-key-hash')).hash('llmb_x');

  it('is true for equal strings', () => {
    expect(safeEqualHex(hash, `${hash}`)).toBe(true);
    expect(safeEqualHex('', '')).toBe(true);
  });

  it('is false for different strings of the same length', () => {
    const flipped = (hash[0] === 'a' ? 'b' : 'a') + hash.slice(1);
    expect(safeEqualHex(hash, flipped)).toBe(false);
    expect(safeEqualHex(hash, hash.toUpperCase())).toBe(hash === hash.toUpperCase());
    // Invalid hex must not decode to the same bytes and compare equal.
    expect(safeEqualHex('zz', 'yy')).toBe(false);
  });

  it('is false, without throwing, for different lengths', () => {
    expect(safeEqualHex(hash, hash.slice(0, -1))).toBe(false);
    expect(safeEqualHex(hash, '')).toBe(false);
    expect(safeEqualHex('', hash)).toBe(false);
    expect(safeEqualHex('é', 'ee')).toBe(false);
  });
});
