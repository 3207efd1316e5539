import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { type KeyRing, SealedSecretError } from './key-ring.js';

const VERSION = 'd1';
const DATA_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A secret as stored: under its own data key, and that data key under the master key. */
export interface SealedEnvelope {
  /** `d1.<iv>.<ciphertext and tag>` (base64url), AES-256-GCM under the data key. */
  secretSealed: string;
  /** The data key, sealed by the key ring (a SecretBox envelope naming its master key). */
  dataKeySealed: string;
}

/**
 * Envelope encryption: each secret gets a random data key, and only the data key is sealed
 * under the key-encryption key from MASTER_KEY. A master key rotation then re-seals 32-byte
 * data keys and never handles the secrets. `context` is bound into both layers as associated
 * data, so an envelope copied to another row (tenant, provider) opens in neither.
 */
export class EnvelopeCipher {
  constructor(private readonly ring: KeyRing) {}

  seal(secret: string, context: string): SealedEnvelope {
    const dataKey = randomBytes(DATA_KEY_BYTES);
    try {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
      cipher.setAAD(Buffer.from(context));
      const sealed = Buffer.concat([
        cipher.update(secret, 'utf8'),
        cipher.final(),
        cipher.getAuthTag(),
      ]);
      return {
        secretSealed: [VERSION, iv.toString('base64url'), sealed.toString('base64url')].join('.'),
        dataKeySealed: this.ring.seal(dataKey.toString('base64url'), context),
      };
    } finally {
      dataKey.fill(0);
    }
  }

  /** Throws SealedSecretError when either layer does not open. */
  open(envelope: SealedEnvelope, context: string): string {
    const dataKey = Buffer.from(this.ring.open(envelope.dataKeySealed, context), 'base64url');
    try {
      const [version, iv, sealed, ...rest] = envelope.secretSealed.split('.');
      if (version !== VERSION || rest.length > 0 || iv === undefined || sealed === undefined)
        throw new SealedSecretError('the stored value is not a sealed secret');
      const bytes = Buffer.from(sealed, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', dataKey, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(bytes.subarray(0, bytes.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch (error) {
      if (error instanceof SealedSecretError) throw error;
      throw new SealedSecretError('does not open: altered, or copied from another row', {
        cause: error,
      });
    } finally {
      dataKey.fill(0);
    }
  }

  /**
   * The envelope with its data key re-sealed under the current master key, or null when it
   * is already. The secret is opened once first, so a damaged row is reported, not rewritten.
   */
  rewrap(envelope: SealedEnvelope, context: string): SealedEnvelope | null {
    if (this.ring.isCurrent(envelope.dataKeySealed)) return null;
    this.open(envelope, context);
    const dataKeySealed = this.ring.reseal(envelope.dataKeySealed, context);
    return dataKeySealed === null ? null : { ...envelope, dataKeySealed };
  }
}
