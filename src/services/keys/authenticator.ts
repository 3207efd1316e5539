import { GatewayError } from '../../errors/gateway-error.js';
import type { InvalidationBus } from './invalidation.js';
import type { KeyPrincipal, KeyService } from './key-service.js';
import type { KeyUsageRecorder } from './key-usage.js';

/** Turns an Authorization header into the caller it names, or a 401. */
export interface Authenticator {
  authenticate(authorization: string | undefined): Promise<KeyPrincipal>;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

function bearer(authorization: string | undefined): string {
  const secret = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
  if (secret === undefined) {
    throw new GatewayError('invalid_api_key', {
      message:
        "You didn't provide an API key. Send it in the Authorization header as 'Bearer YOUR_KEY'.",
    });
  }
  return secret;
}

export interface KeyCacheOptions {
  /** Longest a resolution is reused without a fresh look: a safety net behind invalidation. */
  ttlMs: number;
  maxEntries: number;
}

type Cached = { principal: KeyPrincipal; until: number } | { refused: GatewayError; until: number };

/**
 * Resolves keys through KeyService once, then from memory: no database query per request
 * once warm. Revocations, rotations and tenant changes arrive on the invalidation bus and drop
 * the entries at once, on every instance. Unknown keys are remembered too, so a client
 * retrying a bad key does not reach the database each time.
 */
export class CachingAuthenticator implements Authenticator {
  private readonly entries = new Map<string, Cached>();

  constructor(
    private readonly keys: KeyService,
    bus: InvalidationBus,
    private readonly usage: KeyUsageRecorder | null = null,
    private readonly options: KeyCacheOptions = { ttlMs: 60_000, maxEntries: 100_000 },
  ) {
    bus.subscribe((message) => {
      for (const [fingerprint, entry] of this.entries) {
        if (!('principal' in entry)) continue;
        const { keyId, tenantId } = entry.principal;
        if ('keyId' in message ? message.keyId === keyId : message.tenantId === tenantId) {
          this.entries.delete(fingerprint);
        }
      }
    });
  }

  async authenticate(authorization: string | undefined): Promise<KeyPrincipal> {
    const secret = bearer(authorization);
    const fingerprint = this.keys.fingerprint(secret);
    const now = Date.now();
    const cached = this.entries.get(fingerprint);
    if (cached !== undefined && cached.until > now) {
      if ('refused' in cached) throw cached.refused;
      this.usage?.touch(cached.principal.tenantId, cached.principal.keyId);
      return cached.principal;
    }
    try {
      const principal = await this.keys.resolve(secret);
      this.usage?.touch(principal.tenantId, principal.keyId);
      const expires = principal.validUntil?.getTime() ?? Number.POSITIVE_INFINITY;
      this.remember(fingerprint, { principal, until: Math.min(now + this.options.ttlMs, expires) });
      return principal;
    } catch (error) {
      // Only "no such key" is remembered: a disabled tenant may be enabled again at any time.
      if (error instanceof GatewayError && error.code === 'invalid_api_key') {
        this.remember(fingerprint, { refused: error, until: now + this.options.ttlMs });
      }
      throw error;
    }
  }

  private remember(fingerprint: string, entry: Cached): void {
    if (this.entries.size >= this.options.maxEntries) {
      // Map order is insertion order: drop the oldest entry.
      const [oldest] = this.entries.keys();
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(fingerprint, entry);
  }
}
