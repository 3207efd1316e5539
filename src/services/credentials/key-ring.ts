import { deriveKey } from '../keys/key-hash.js';
import { SecretBox } from '../webhooks/secret-box.js';

/**
 * A sealed secret that does not open. The message says why and never holds the secret, so it
 * may be logged and shown to the operator.
 */
export class SealedSecretError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SealedSecretError';
  }
}

/** What re-sealing one tenant's secrets of one kind did. */
export interface RewrapResult {
  rewrapped: number;
  /** Already sealed under the current master key. */
  current: number;
  /** By the row's id (provider, webhook): why it was left as it was. */
  failed: { id: string; error: string }[];
}

/** The key id a SecretBox envelope (`v1.<key id>.<iv>.<sealed>`) names. */
export function envelopeKeyId(envelope: string): string | null {
  const [version, keyId] = envelope.split('.');
  return version === 'v1' && keyId !== undefined ? keyId : null;
}

/**
 * The key-encryption keys of one purpose: the current one, derived from MASTER_KEY, which
 * seals everything new, and during a rotation the previous one (MASTER_KEY_PREVIOUS), which
 * still opens what it sealed until `secrets rewrap` re-seals it. Envelopes name the key that
 * sealed them, so opening picks the right one without trying both.
 */
export class KeyRing {
  constructor(
    private readonly current: SecretBox,
    private readonly previous: SecretBox | null = null,
  ) {}

  /** The ring for `purpose` (an HKDF label, as deriveKey takes it). */
  static derive(masterKey: string, previousMasterKey: string | null, purpose: string): KeyRing {
    const previous =
      previousMasterKey === null ? null : new SecretBox(deriveKey(previousMasterKey, purpose));
    return new KeyRing(new SecretBox(deriveKey(masterKey, purpose)), previous);
  }

  seal(plaintext: string, context: string): string {
    return this.current.seal(plaintext, context);
  }

  /** Whether the envelope is sealed under the current key, so a rewrap can leave it alone. */
  isCurrent(envelope: string): boolean {
    return envelopeKeyId(envelope) === this.current.keyId;
  }

  /** Throws SealedSecretError, with a message fit for an operator, when it does not open. */
  open(envelope: string, context: string): string {
    const keyId = envelopeKeyId(envelope);
    if (keyId === null) throw new SealedSecretError('the stored value is not a sealed secret');
    const box = [this.current, this.previous].find((candidate) => candidate?.keyId === keyId);
    if (box === undefined || box === null) {
      throw new SealedSecretError(
        'sealed under a master key that is neither MASTER_KEY nor MASTER_KEY_PREVIOUS',
      );
    }
    try {
      return box.open(envelope, context);
    } catch (error) {
      // GCM refuses a changed byte and an envelope moved to another row alike.
      throw new SealedSecretError(
        'does not open: altered, or copied from another tenant, provider or row',
        { cause: error },
      );
    }
  }

  /** The envelope sealed under the current key, or null when it already is. */
  reseal(envelope: string, context: string): string | null {
    if (this.isCurrent(envelope)) return null;
    return this.seal(this.open(envelope, context), context);
  }
}
