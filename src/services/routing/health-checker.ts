import type { ProviderRegistry } from '../../providers/registry.js';
import type { DeploymentState } from './deployment-state.js';
import { classifyFailure } from './failure-kind.js';

const PROBE_TIMEOUT_MS = 10_000;

export interface HealthCheckerOptions {
  states: readonly DeploymentState[];
  providers: ProviderRegistry;
  /** Providers not probed: those with no key of their own (only tenants' keys). */
  skip?: ReadonlySet<string>;
  intervalMs: number;
  now?: () => number;
  onError?: (error: unknown) => void;
}

/**
 * Probes every deployment's provider (its model list) on a timer, so a dead deployment's
 * circuit opens before a client request finds out, and a recovered one closes without
 * waiting for a client to be the probe. One probe per provider and round, shared by its
 * deployments.
 */
export class HealthChecker {
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(private readonly options: HealthCheckerOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.options.intervalMs <= 0 || this.timer !== null) return;
    this.timer = setInterval(() => {
      this.round ??= this.check().finally(() => {
        this.round = null;
      });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.round;
  }

  /** One round of probes; exposed so tests need not wait for the timer. */
  async check(): Promise<void> {
    const byProvider = new Map<string, DeploymentState[]>();
    for (const state of this.options.states) {
      if (this.options.skip?.has(state.config.providerId)) continue;
      const list = byProvider.get(state.config.providerId) ?? [];
      list.push(state);
      byProvider.set(state.config.providerId, list);
    }
    await Promise.all(
      [...byProvider].map(([providerId, states]) => this.probe(providerId, states)),
    );
  }

  private async probe(providerId: string, states: readonly DeploymentState[]): Promise<void> {
    const provider = this.options.providers.get(providerId);
    if (provider === undefined) return;
    let healthy: boolean;
    try {
      const signal = AbortSignal.timeout(PROBE_TIMEOUT_MS);
      await provider.listModels({ signal, requestId: `health-${providerId}` });
      healthy = true;
    } catch (error) {
      this.options.onError?.(error);
      // Only an upstream that is down says something: a 4xx (a server without a model
      // list, a key that may not list) does not stop it from serving requests.
      const failure = classifyFailure(error, this.now());
      if (failure.kind !== 'retry' || !failure.unhealthy) return;
      healthy = false;
    }
    const now = this.now();
    for (const state of states) {
      if (healthy) {
        if (state.breaker.state(now) !== 'closed') state.breaker.success();
      } else {
        state.breaker.trip(now);
      }
    }
  }
}
