import { describe, expect, it } from 'vitest';
import { EnvelopeCipher } from '../../src/services/credentials/envelope.js';
import { KeyRing, SealedSecretError } from '../../src/services/credentials/key-ring.js';
import { ProviderKeyCache } from '../../src/services/credentials/provider-key-cache.js';
import { LocalInvalidationBus } from '../../src/services/keys/invalidation.js';

const OLD = 'old-master-key-0123456789abcdefghij';
const NEW = 'new-master-key-0123456789abcdefghij';
const SECRET = 'sk-live-0123456789abcdefXYZ';
const CONTEXT = 'provider_key:["tnt_a","openai"]';

const cipherWith = (current: string, previous: string | null = null) =>
  new EnvelopeCipher(KeyRing.derive(current, previous, 'provider-keys'));

function openError(run: () => unknown): SealedSecretError {
  try {
    run();
  } catch (error) {
    if (error instanceof SealedSecretError) return error;
    throw error;
  }
  throw new Error('expected it not to open');
}

describe('EnvelopeCipher', () => {
  it('seals each secret under its own data key, and opens it again', () => {
    const cipher = cipherWith(NEW);
    const one = cipher.seal(SECRET, CONTEXT);
    const two = cipher.seal(SECRET, CONTEXT);
    expect(one.secretSealed).not.toBe(two.secretSealed);
    expect(one.dataKeySealed).not.toBe(two.dataKeySealed);
    expect(JSON.stringify(one)).not.toContain(SECRET);
    expect(cipher.open(one, CONTEXT)).toBe(SECRET);
  });

  it('does not open in another context, altered, or swapped between rows', () => {
    const cipher = cipherWith(NEW);
    const sealed = cipher.seal(SECRET, CONTEXT);
    const other = cipher.seal('sk-other-secret-000000000', 'provider_key:["tnt_b","openai"]');
    expect(openError(() => cipher.open(sealed, 'provider_key:["tnt_b","openai"]')).message).toMatch(
      /does not open/,
    );
    // Flip one bit of the ciphertext itself: editing trailing base64url characters can leave
    // the decoded bytes unchanged (the last character may carry padding bits only).
    const [version, iv, body] = sealed.secretSealed.split('.');
    const bytes = Buffer.from(body ?? '', 'base64url');
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    const flipped = [version, iv, bytes.toString('base64url')].join('.');
    expect(() => cipher.open({ ...sealed, secretSealed: flipped }, CONTEXT)).toThrow(
      SealedSecretError,
    );
    // A data key from one row cannot open another row's secret.
    expect(() => cipher.open({ ...sealed, dataKeySealed: other.dataKeySealed }, CONTEXT)).toThrow(
      SealedSecretError,
    );
    expect(() => cipher.open({ ...sealed, secretSealed: 'garbage' }, CONTEXT)).toThrow(
      'not a sealed secret',
    );
  });

  it('says which master key is missing instead of returning garbage', () => {
    const sealed = cipherWith(OLD).seal(SECRET, CONTEXT);
    const error = openError(() => cipherWith(NEW).open(sealed, CONTEXT));
    expect(error.message).toBe(
      'sealed under a master key that is neither MASTER_KEY nor MASTER_KEY_PREVIOUS',
    );
    expect(cipherWith(NEW, OLD).open(sealed, CONTEXT)).toBe(SECRET);
  });

  it('rewraps only the data key, and only once', () => {
    const sealed = cipherWith(OLD).seal(SECRET, CONTEXT);
    const rotating = cipherWith(NEW, OLD);
    const rewrapped = rotating.rewrap(sealed, CONTEXT);
    expect(rewrapped?.secretSealed).toBe(sealed.secretSealed);
    expect(rewrapped?.dataKeySealed).not.toBe(sealed.dataKeySealed);
    expect(cipherWith(NEW).open(rewrapped ?? sealed, CONTEXT)).toBe(SECRET);
    expect(rotating.rewrap(rewrapped ?? sealed, CONTEXT)).toBeNull();
    // A damaged row is reported, not rewritten.
    expect(() => rotating.rewrap({ ...sealed, secretSealed: 'd1.AAAA.AAAA' }, CONTEXT)).toThrow(
      SealedSecretError,
    );
  });
});

describe('ProviderKeyCache', () => {
  const opened = (entries: [string, string][]) => new Map<string, string | Error>(entries);

  it('loads a tenant once for concurrent requests and serves it from memory', async () => {
    let loads = 0;
    const cache = new ProviderKeyCache(
      async () => {
        loads += 1;
        return opened([['openai', 'sk-1']]);
      },
      new LocalInvalidationBus(),
      60_000,
    );
    const keys = await Promise.all([
      cache.get('tnt_a', 'openai'),
      cache.get('tnt_a', 'openai'),
      cache.get('tnt_a', 'other'),
    ]);
    expect(keys).toEqual(['sk-1', 'sk-1', null]);
    expect(await cache.get('tnt_a', 'openai')).toBe('sk-1');
    expect(loads).toBe(1);
    // Past the lifetime, it looks again.
    expect(await cache.get('tnt_a', 'openai', Date.now() + 61_000)).toBe('sk-1');
    expect(loads).toBe(2);
  });

  it('drops a tenant on its announcement, even while its load is in flight', async () => {
    const bus = new LocalInvalidationBus();
    let value = 'sk-old';
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let first = true;
    const cache = new ProviderKeyCache(
      async () => {
        const current = value;
        if (first) {
          first = false;
          await gate;
        }
        return opened([['openai', current]]);
      },
      bus,
      60_000,
    );
    const stale = cache.get('tnt_a', 'openai');
    value = 'sk-new';
    await bus.publish({ tenantId: 'tnt_a' });
    release();
    expect(await stale).toBe('sk-old');
    expect(await cache.get('tnt_a', 'openai')).toBe('sk-new');
    await bus.publish({ tenantId: 'tnt_other' });
    await bus.publish({ keyId: 'key_x' });
    value = 'sk-newer';
    expect(await cache.get('tnt_a', 'openai')).toBe('sk-new');
  });

  it('throws the error of an unreadable key, and forgets failed loads', async () => {
    let fail = true;
    const cache = new ProviderKeyCache(
      async () => {
        if (fail) throw new Error('database away');
        return new Map<string, string | Error>([['openai', new SealedSecretError('no')]]);
      },
      undefined,
      60_000,
    );
    await expect(cache.get('tnt_a', 'openai')).rejects.toThrow('database away');
    fail = false;
    await expect(cache.get('tnt_a', 'openai')).rejects.toThrow(SealedSecretError);
  });
});
