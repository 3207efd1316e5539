export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitOptions {
  /** Consecutive failures that open the circuit; Infinity for a circuit that never opens. */
  failureThreshold: number;
  /** How long an open circuit refuses traffic before one probe may go through. */
  cooldownMs: number;
}

/**
 * A deployment's circuit: closed lets everything through; after `failureThreshold`
 * consecutive failures it opens and refuses traffic for `cooldownMs`; then it is half-open
 * and lets a single probe through, whose outcome closes or reopens it. Per process: each
 * instance judges the upstream by what it sees itself.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | null = null;
  private probing = false;

  constructor(private readonly options: CircuitOptions) {}

  state(now: number): CircuitState {
    if (this.openedAt === null) return 'closed';
    return now - this.openedAt >= this.options.cooldownMs ? 'half_open' : 'open';
  }

  /** Whether a request may go through now; in half-open, only the one probe may. */
  canPass(now: number): boolean {
    const state = this.state(now);
    return state === 'closed' || (state === 'half_open' && !this.probing);
  }

  /** Marks the start of a request; a request in half-open is the probe. */
  begin(now: number): void {
    if (this.state(now) === 'half_open') this.probing = true;
  }

  success(): void {
    this.failures = 0;
    this.openedAt = null;
    this.probing = false;
  }

  failure(now: number): void {
    if (!Number.isFinite(this.options.failureThreshold)) return;
    this.failures += 1;
    const wasProbe = this.probing;
    this.probing = false;
    if (wasProbe || (this.openedAt === null && this.failures >= this.options.failureThreshold)) {
      this.openedAt = now;
    }
  }

  /** A request that ended without judging the upstream (client gone, its own bad input). */
  release(): void {
    this.probing = false;
  }

  /** When an active health check failed: no traffic until the cooldown has passed again. */
  trip(now: number): void {
    if (!Number.isFinite(this.options.failureThreshold)) return;
    this.probing = false;
    this.openedAt = now;
  }
}
