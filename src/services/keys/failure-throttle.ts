import { GatewayError } from '../../errors/gateway-error.js';

interface Window {
  failures: number;
  resetAt: number;
}

/**
 * Counts failed key checks per client (its IP address) and refuses further lookups from a
 * client past the limit until its window ends, so one client cycling through made-up keys
 * cannot keep the databases busy. Per instance by design: it guards this instance's work,
 * and a key's 190 random bits need no help against guessing.
 */
export class FailureThrottle {
  private readonly clients = new Map<string, Window>();

  constructor(
    /** Failures allowed per window; 0 turns the throttle off. */
    private readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly maxClients = 100_000,
  ) {}

  /** Throws a 429 when the client is over its limit; a lookup may go ahead otherwise. */
  check(client: string, now = Date.now()): void {
    if (this.limit === 0) return;
    const window = this.clients.get(client);
    if (window === undefined || window.resetAt <= now || window.failures < this.limit) return;
    const seconds = Math.max(1, Math.ceil((window.resetAt - now) / 1000));
    throw new GatewayError('auth_rate_limited', {
      message: `Too many requests with invalid API keys from this client; retry in ${seconds} s.`,
      headers: { 'retry-after': String(seconds), 'retry-after-ms': String(window.resetAt - now) },
    });
  }

  fail(client: string, now = Date.now()): void {
    if (this.limit === 0) return;
    const window = this.clients.get(client);
    if (window !== undefined && window.resetAt > now) {
      window.failures += 1;
      return;
    }
    if (this.clients.size >= this.maxClients) this.evict(now);
    this.clients.set(client, { failures: 1, resetAt: now + this.windowMs });
  }

  private evict(now: number): void {
    for (const [client, window] of this.clients) {
      if (window.resetAt <= now) this.clients.delete(client);
    }
    // Still full of live windows: drop the oldest, which Map order puts first.
    if (this.clients.size >= this.maxClients) {
      const [oldest] = this.clients.keys();
      if (oldest !== undefined) this.clients.delete(oldest);
    }
  }
}
