import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Seals webhook secrets at rest with AES-256-GCM under a key derived from the master key.
 * An envelope reads `v1.<key id>.<iv>.<ciphertext and tag>` (base64url): the key id (a hash
 * of the key, not the key) says which master key sealed it, so a later re-encryption after a
 * master key change can tell old envelopes from new ones. The row's id is bound in as
 * associated data, so an envelope copied onto another webhook does not open there.
 */
export class SecretBox {
  readonly #key: Buffer;
  readonly keyId: string;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new TypeError('SecretBox: the key must be 32 bytes');
    this.#key = Buffer.from(key);
    this.keyId = createHash('sha256').update(key).digest('base64url').slice(0, 8);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(`${this.keyId}.${context}`));
    const sealed = Buffer.concat([
      cipher.update(plaintext, 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return [VERSION, this.keyId, iv.toString('base64url'), sealed.toString('base64url')].join('.');
  }

  /** Throws when the envelope was sealed under another key, altered, or for another row. */
  open(envelope: string, context: string): string {
    const [version, keyId, iv, sealed, ...rest] = envelope.split('.');
    if (version !== VERSION || rest.length > 0 || iv === undefined || sealed === undefined)
      throw new Error('not a sealed secret');
    if (keyId !== this.keyId)
      throw new Error('the secret was sealed under another master key (MASTER_KEY changed?)');
    const bytes = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(`${keyId}.${context}`));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    const plain = Buffer.concat([
      decipher.update(bytes.subarray(0, bytes.length - TAG_BYTES)),
      decipher.final(),
    ]);
    return plain.toString('utf8');
  }
}
