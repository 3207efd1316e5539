import { setTimeout as sleep } from 'node:timers/promises';
import type {
  DeploymentConfig,
  ModelConfig,
  RoutingConfig,
  RoutingStrategy,
} from '../../config/load.js';
import { GatewayError } from '../../errors/gateway-error.js';
import {
  type DeploymentSnapshot,
  DeploymentState,
  type DeploymentStatus,
} from './deployment-state.js';
import { classifyFailure, type Failure } from './failure-kind.js';
import { orderDeployments, type Random } from './strategies.js';

export interface AttemptTarget {
  model: ModelConfig;
  deployment: DeploymentConfig;
}

/** What an attempt gives back: the value, and when the deployment's work is over. */
export interface AttemptResult<T> {
  value: T;
  /** For streams: settles when the stream ends, so in-flight counts cover all of it. */
  finished?: Promise<unknown>;
}

export interface RouteRequest {
  model: ModelConfig;
  /** The caller's override of the model's strategy. */
  strategy?: RoutingStrategy;
  /** Estimated tokens, held against deployments' own per-minute token limits. */
  tokens: number;
  signal: AbortSignal;
  /** Whether a fallback model may serve this request (capability, the caller's access). */
  mayUse: (model: ModelConfig) => boolean;
}

export interface Routed<T> extends AttemptTarget {
  value: T;
  /** Upstream calls made, the successful one included. */
  attempts: number;
}

export type AttemptOutcome = 'success' | 'retry' | 'failover' | 'context' | 'final';

export interface ModelRouterOptions {
  models: readonly ModelConfig[];
  routing: RoutingConfig;
  random?: Random;
  now?: () => number;
  /** Told of every attempt, for metrics. */
  onAttempt?: (target: AttemptTarget, outcome: AttemptOutcome) => void;
  /** Told of each attempt after a failed one, and where that one went: retries and failovers. */
  onNextAttempt?: (from: AttemptTarget, to: AttemptTarget) => void;
}

type Tried<T> =
  | { ok: true; value: T; target: AttemptTarget }
  | { ok: false; error: unknown; failure: Failure };

interface Progress {
  attempts: number;
  /** Where the previous attempt went; null before the first. */
  last: AttemptTarget | null;
}

/** Where one model's attempts stand. */
interface Pick {
  tried: Set<DeploymentState>;
  excluded: Set<DeploymentState>;
  strategy: RoutingStrategy;
  retries: number;
  retriesLeft: number;
  /** What the last failed attempt's upstream asked to wait, if anything. */
  retryAfterMs: number | null;
  request: RouteRequest;
}

/**
 * Chooses where each request goes and carries it there: deployments in the order of the
 * strategy, failover to the next one at once, retries with backoff (or the upstream's
 * `retry-after`), then fallback models; circuits keep traffic off failing deployments.
 * Nothing here knows the wire: an attempt is a function of the target.
 */
export class ModelRouter {
  private readonly states = new Map<string, DeploymentState[]>();
  private readonly byName: ReadonlyMap<string, ModelConfig>;
  private readonly random: Random;
  private readonly now: () => number;

  constructor(private readonly options: ModelRouterOptions) {
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.byName = new Map(options.models.map((model) => [model.name, model]));
    for (const model of options.models) {
      const guarded = model.deployments.length > 1 || model.routing.fallbacks.length > 0;
      const circuit = options.routing.circuitBreaker;
      this.states.set(
        model.name,
        model.deployments.map((d) => new DeploymentState(model.name, d, circuit, guarded)),
      );
    }
  }

  async run<T>(
    request: RouteRequest,
    call: (target: AttemptTarget) => Promise<AttemptResult<T>>,
  ): Promise<Routed<T>> {
    const progress: Progress = { attempts: 0, last: null };
    let queue = [request.model, ...this.fallbacks(request.model.routing.fallbacks, request)];
    let last: Tried<T> | null = null;
    for (let model = queue.shift(); model !== undefined; model = queue.shift()) {
      last = await this.tryModel(model, request, progress, call);
      if (last.ok) return { ...last.target, value: last.value, attempts: progress.attempts };
      if (last.failure.kind === 'final') break;
      // Only a larger model can take the request; the rest of the chain is no better.
      if (last.failure.kind === 'context')
        queue = this.fallbacks(model.routing.contextWindowFallbacks, request);
    }
    const error = last === null || last.ok ? unavailable(request.model) : last.error;
    throw new RouteFailure(error, progress.attempts);
  }

  /** What each deployment's circuit, load and latency are now, for health and metrics. */
  snapshot(): DeploymentSnapshot[] {
    const now = this.now();
    return [...this.states.values()].flat().map((state) => state.snapshot(now));
  }

  /** Each deployment for the admin API: circuit, load, median latency and its settings. */
  statuses(): DeploymentStatus[] {
    const now = this.now();
    return this.deploymentStates().map((state) => state.status(now));
  }

  /** The observed latency of a model's fastest deployment; null before any measurement. */
  latencyOf(model: string): number | null {
    const measured = (this.states.get(model) ?? [])
      .map((s) => s.latencyMs)
      .filter((ms): ms is number => ms !== null);
    return measured.length === 0 ? null : Math.min(...measured);
  }

  /** Every deployment's state, for the health checker. */
  deploymentStates(): DeploymentState[] {
    return [...this.states.values()].flat();
  }

  private fallbacks(names: readonly string[], request: RouteRequest): ModelConfig[] {
    return names
      .map((name) => this.byName.get(name))
      .filter((model): model is ModelConfig => model !== undefined && request.mayUse(model));
  }

  private async tryModel<T>(
    model: ModelConfig,
    request: RouteRequest,
    progress: Progress,
    call: (target: AttemptTarget) => Promise<AttemptResult<T>>,
  ): Promise<Tried<T>> {
    const states = this.states.get(model.name) ?? [];
    const p: Pick = {
      tried: new Set<DeploymentState>(),
      excluded: new Set<DeploymentState>(),
      strategy: request.strategy ?? model.routing.strategy,
      retries: model.routing.retries,
      retriesLeft: model.routing.retries,
      retryAfterMs: null,
      request,
    };
    let last: Tried<T> | null = null;
    for (
      let state = await this.pick(states, p);
      state !== null;
      state = await this.pick(states, p)
    ) {
      progress.attempts += 1;
      const target = { model, deployment: state.config };
      if (progress.last !== null) this.options.onNextAttempt?.(progress.last, target);
      progress.last = target;
      last = await this.attempt(model, state, request, call);
      if (last.ok) return last;
      p.tried.add(state);
      p.retryAfterMs = last.failure.retryAfterMs;
      if (last.failure.kind === 'failover') p.excluded.add(state);
      if (last.failure.kind === 'final' || last.failure.kind === 'context') return last;
    }
    return last ?? { ok: false, error: unavailable(model), failure: NONE };
  }

  /**
   * The next deployment: one not tried yet, at once (failover costs no retry); else, while
   * retries are left, one tried before after a backoff, or one an upstream 429 asked to
   * wait for if the wait is short enough. Null: none.
   */
  private async pick(states: readonly DeploymentState[], p: Pick): Promise<DeploymentState | null> {
    const { routing } = this.options;
    const now = this.now();
    const open = states.filter((s) => !p.excluded.has(s) && s.available(now, p.request.tokens));
    const fresh = open.filter((s) => !p.tried.has(s));
    if (fresh.length > 0) return orderDeployments(fresh, p.strategy, this.random)[0] ?? null;
    if (p.retriesLeft <= 0) return null;
    p.retriesLeft -= 1;
    const { signal } = p.request;
    if (open.length > 0) {
      // The upstream's own retry-after, when it sent one, else exponential full jitter.
      if (p.retryAfterMs !== null && p.retryAfterMs > routing.maxRetryAfterMs) return null;
      const retry = p.retries - p.retriesLeft;
      const cap = Math.min(routing.backoffMaxMs, routing.backoffBaseMs * 2 ** (retry - 1));
      await sleep(p.retryAfterMs ?? this.random() * cap, undefined, { signal });
      return orderDeployments(open, p.strategy, this.random)[0] ?? null;
    }
    const waiting = states
      .filter((s) => !p.excluded.has(s) && s.breaker.canPass(now) && s.coolingUntil > now)
      .filter((s) => s.coolingUntil - now <= routing.maxRetryAfterMs)
      .sort((a, b) => a.coolingUntil - b.coolingUntil)[0];
    if (waiting === undefined) return null;
    await sleep(waiting.coolingUntil - now, undefined, { signal });
    return waiting;
  }

  private async attempt<T>(
    model: ModelConfig,
    state: DeploymentState,
    request: RouteRequest,
    call: (target: AttemptTarget) => Promise<AttemptResult<T>>,
  ): Promise<Tried<T>> {
    const target = { model, deployment: state.config };
    const started = this.now();
    state.begin(started, request.tokens);
    let finished: Promise<unknown> | undefined;
    try {
      const result = await call(target);
      finished = result.finished;
      state.observeLatency(this.now() - started);
      state.breaker.success();
      this.options.onAttempt?.(target, 'success');
      return { ok: true, value: result.value, target };
    } catch (error) {
      if (request.signal.aborted) {
        state.breaker.release();
        throw error;
      }
      const now = this.now();
      const failure = classifyFailure(error, now);
      if (failure.unhealthy) state.breaker.failure(now);
      else if (failure.kind === 'retry') state.breaker.release();
      // An upstream that answered a 4xx is alive, whatever it thought of the request.
      else state.breaker.success();
      if (failure.retryAfterMs !== null) state.coolDown(now + failure.retryAfterMs);
      this.options.onAttempt?.(target, failure.kind);
      return { ok: false, error, failure };
    } finally {
      if (finished === undefined) state.end();
      else void finished.finally(() => state.end());
    }
  }
}

/** Why a request found no answer (the last attempt's error), and how many attempts it made. */
export class RouteFailure extends Error {
  constructor(
    override readonly cause: unknown,
    readonly attempts: number,
  ) {
    super('no deployment answered', { cause });
    this.name = 'RouteFailure';
  }
}

const NONE: Failure = { kind: 'retry', unhealthy: false, retryAfterMs: null };

function unavailable(model: ModelConfig): GatewayError {
  return new GatewayError('model_unavailable', {
    message: `No deployment of the model '${model.name}' can take requests right now; retry later.`,
  });
}
