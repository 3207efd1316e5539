import { GatewayError } from '../../errors/gateway-error.js';
import type { FailureThrottle } from './failure-throttle.js';
import type { InvalidationBus } from './invalidation.js';
import type { KeyPrincipal, KeyService } from './key-service.js';
import type { KeyUsageRecorder } from './key-usage.js';

/** Turns an Authorization header into the caller it names, or a 401. */
export interface Authenticator {
  /** `client` (the caller's address) is what repeated failures are counted against. */
  authenticate(authorization: string | undefined, client?: string): Promise<KeyPrincipal>;
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

export interface AuthenticatorOptions {
  /** Longest a resolution is reused without a fresh look: a safety net behind invalidation. */
  ttlMs?: number;
  maxEntries?: number;
  /** Batches each key's last-used time. */
  usage?: KeyUsageRecorder;
  /** Counts failures per client and refuses lookups past its limit. */
  throttle?: FailureThrottle;
  /** Told of each fresh resolution (not of answers from memory), e.g. for the metrics. */
  onResolved?: (principal: KeyPrincipal) => void;
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

  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly usage: KeyUsageRecorder | null;
  private readonly throttle: FailureThrottle | null;
  private readonly onResolved: (principal: KeyPrincipal) => void;

  constructor(
    private readonly keys: KeyService,
    bus: InvalidationBus,
    options: AuthenticatorOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.maxEntries = options.maxEntries ?? 100_000;
    this.usage = options.usage ?? null;
    this.throttle = options.throttle ?? null;
    this.onResolved = options.onResolved ?? (() => {});
    bus.subscribe((message) => {
      for (const [fingerprint, entry] of this.entries) {
        if (!('principal' in entry)) continue;
        const { principal } = entry;
        const hit =
          'keyId' in message
            ? message.keyId === principal.keyId
            : 'tenantId' in message &&
              principal.kind === 'tenant' &&
              message.tenantId === principal.tenantId;
        if (hit) {
          this.entries.delete(fingerprint);
        }
      }
    });
  }

  async authenticate(authorization: string | undefined, client = ''): Promise<KeyPrincipal> {
    const now = Date.now();
    let secret: string;
    try {
      secret = bearer(authorization);
    } catch (error) {
      this.throttle?.fail(client, now);
      throw error;
    }
    const fingerprint = this.keys.fingerprint(secret);
    const cached = this.entries.get(fingerprint);
    // A known good key passes even from a throttled client: it costs no lookup, and the
    // client may be a shared address with one misconfigured caller behind it.
    if (cached !== undefined && cached.until > now && 'principal' in cached) {
      this.touch(cached.principal);
      return cached.principal;
    }
    this.throttle?.check(client, now);
    if (cached !== undefined && cached.until > now && 'refused' in cached) {
      this.throttle?.fail(client, now);
      throw cached.refused;
    }
    return this.lookup(
      fingerprint,
      () => this.keys.resolve(secret),
      now,
      () => this.throttle?.fail(client, now),
    );
  }

  /**
   * The caller behind a key's stored hash (a session keeps it instead of the secret): cached
   * under the same entries, so a revocation on the bus ends a session's key at once too.
   * Not throttled: the hash came from our own session store, not from a client.
   */
  async resume(hash: string): Promise<KeyPrincipal> {
    const now = Date.now();
    const cached = this.entries.get(hash);
    if (cached !== undefined && cached.until > now) {
      if ('refused' in cached) throw cached.refused;
      this.touch(cached.principal);
      return cached.principal;
    }
    return this.lookup(
      hash,
      () => this.keys.resolveHash(hash),
      now,
      () => {},
    );
  }

  private async lookup(
    fingerprint: string,
    resolve: () => Promise<KeyPrincipal>,
    now: number,
    onUnknown: () => void,
  ): Promise<KeyPrincipal> {
    try {
      const principal = await resolve();
      this.onResolved(principal);
      this.touch(principal);
      const expires = principal.validUntil?.getTime() ?? Number.POSITIVE_INFINITY;
      this.remember(fingerprint, { principal, until: Math.min(now + this.ttlMs, expires) });
      return principal;
    } catch (error) {
      // Only "no such key" is remembered: a disabled tenant may be enabled again at any time.
      if (error instanceof GatewayError && error.code === 'invalid_api_key') {
        this.remember(fingerprint, { refused: error, until: now + this.ttlMs });
        onUnknown();
      }
      throw error;
    }
  }

  private touch(principal: KeyPrincipal): void {
    this.usage?.touch(principal.kind === 'tenant' ? principal.tenantId : null, principal.keyId);
  }

  private remember(fingerprint: string, entry: Cached): void {
    if (this.entries.size >= this.maxEntries) {
      // Map order is insertion order: drop the oldest entry.
      const [oldest] = this.entries.keys();
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(fingerprint, entry);
  }
}
