import type { DeploymentConfig } from '../../config/load.js';
import { CircuitBreaker, type CircuitOptions, type CircuitState } from './circuit-breaker.js';
import { MinuteWindow } from './minute-window.js';

const NEVER_OPEN = { failureThreshold: Number.POSITIVE_INFINITY, cooldownMs: 0 };

/** Weight of the newest sample in the latency average. */
const LATENCY_ALPHA = 0.2;
/** The latest latencies kept for the median the admin panel shows. */
const LATENCY_SAMPLES = 101;

/** One deployment as the admin API's `GET /admin/v1/deployments` lists it. */
export interface DeploymentStatus {
  model: string;
  deployment: string;
  provider: string;
  circuit_state: CircuitState;
  in_flight: number;
  latency_ms_p50: number | null;
  region: string | null;
  weight: number;
  priority: number;
}

export interface DeploymentSnapshot {
  model: string;
  deployment: string;
  provider: string;
  circuit: CircuitState;
  in_flight: number;
  latency_ms: number | null;
  cooling_down_until: string | null;
}

/**
 * What this process knows of one deployment of one model: its circuit, requests in flight,
 * an average latency, and the last minute's requests and tokens against its own limits.
 */
export class DeploymentState {
  readonly breaker: CircuitBreaker;
  inFlight = 0;
  /** Average time to the response (to the first chunk for streams); null before any. */
  latencyMs: number | null = null;
  /** An upstream 429 asked us to wait until then. */
  coolingUntil = 0;
  private readonly samples: number[] = [];
  private nextSample = 0;
  private readonly requests = new MinuteWindow();
  private readonly tokens = new MinuteWindow();

  /**
   * @param guarded Whether there is somewhere else to send requests (other deployments or
   * fallback models). Without, refusing a request would only turn an upstream's errors into
   * ours, so the circuit never opens and a 429 sets no cooldown.
   */
  constructor(
    readonly model: string,
    readonly config: DeploymentConfig,
    circuit: CircuitOptions,
    private readonly guarded: boolean,
  ) {
    this.breaker = new CircuitBreaker(guarded ? circuit : NEVER_OPEN);
  }

  /** Keeps requests off until then, as an upstream's retry-after asked. */
  coolDown(until: number): void {
    if (this.guarded) this.coolingUntil = Math.max(this.coolingUntil, until);
  }

  /** Whether a request may be sent here now: circuit, cooldown and its own rate limits. */
  available(now: number, tokens: number): boolean {
    if (!this.breaker.canPass(now) || now < this.coolingUntil) return false;
    const { requestsPerMinute, tokensPerMinute } = this.config;
    if (requestsPerMinute !== null && this.requests.total(now) + 1 > requestsPerMinute)
      return false;
    return tokensPerMinute === null || this.tokens.total(now) + tokens <= tokensPerMinute;
  }

  begin(now: number, tokens: number): void {
    this.inFlight += 1;
    this.breaker.begin(now);
    this.requests.add(now, 1);
    this.tokens.add(now, tokens);
  }

  end(): void {
    this.inFlight -= 1;
  }

  observeLatency(ms: number): void {
    this.latencyMs =
      this.latencyMs === null ? ms : this.latencyMs + LATENCY_ALPHA * (ms - this.latencyMs);
    // A ring: the oldest sample makes room for the newest.
    this.samples[this.nextSample] = ms;
    this.nextSample = (this.nextSample + 1) % LATENCY_SAMPLES;
  }

  /** The median of the latest latencies; null before any. Sorted on demand: read rarely. */
  latencyP50(): number | null {
    if (this.samples.length === 0) return null;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    const median =
      sorted.length % 2 === 1
        ? (sorted[middle] ?? 0)
        : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
    return Math.round(median * 10) / 10;
  }

  status(now: number): DeploymentStatus {
    return {
      model: this.model,
      deployment: this.config.id,
      provider: this.config.providerId,
      circuit_state: this.breaker.state(now),
      in_flight: this.inFlight,
      latency_ms_p50: this.latencyP50(),
      region: this.config.region,
      weight: this.config.weight,
      priority: this.config.priority,
    };
  }

  snapshot(now: number): DeploymentSnapshot {
    return {
      model: this.model,
      deployment: this.config.id,
      provider: this.config.providerId,
      circuit: this.breaker.state(now),
      in_flight: this.inFlight,
      latency_ms: this.latencyMs === null ? null : Math.round(this.latencyMs * 10) / 10,
      cooling_down_until:
        now < this.coolingUntil ? new Date(this.coolingUntil).toISOString() : null,
    };
  }
}
