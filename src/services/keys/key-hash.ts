import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

// A fixed salt is fine here: the master key is already high-entropy, and HKDF's `info`
// (the purpose) is what keeps keys for different uses independent.
const HKDF_SALT = 'llm-backend';
const DERIVED_KEY_BYTES = 32;
// HMAC-SHA256 keys shorter than the digest weaken it, so weaker secrets are refused.
const MIN_SECRET_BYTES = 32;

export function deriveKey(masterKey: string, purpose: string): Buffer {
  // An empty master key is a misconfiguration that would otherwise yield a public, fixed key.
  if (masterKey.length === 0) {
    throw new TypeError('deriveKey: masterKey must not be empty');
  }
  if (purpose.length === 0) {
    throw new TypeError('deriveKey: purpose must not be empty');
  }
  return Buffer.from(hkdfSync('sha256', masterKey, HKDF_SALT, purpose, DERIVED_KEY_BYTES));
}

/**
 * Stores API keys as HMACs rather than plain hashes, so a leaked database alone does not
 * let anyone test guessed keys offline.
 */
export class ApiKeyHasher {
  readonly #secret: Buffer;

  constructor(secret: Buffer) {
    if (secret.length < MIN_SECRET_BYTES) {
      throw new TypeError(`ApiKeyHasher: secret must be at least ${MIN_SECRET_BYTES} bytes`);
    }
    // A private copy, so later changes to the caller's buffer cannot change stored hashes.
    this.#secret = Buffer.from(secret);
  }

  hash(apiKey: string): string {
    return createHmac('sha256', this.#secret).update(apiKey, 'utf8').digest('hex');
  }
}

export function safeEqualHex(a: string, b: string): boolean {
  // Compare the text bytes, not decoded hex: Buffer.from(x, 'hex') silently drops invalid
  // characters, which would make different strings compare equal.
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  // Lengths are not secret (every hash is 64 characters), so an early return is safe.
  if (left.length !== right.length) {
    return false;
  }
  return timingSafeEqual(left, right);
}
