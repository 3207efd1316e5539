import type { DeploymentConfig, ModelConfig } from '../../config/load.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { JsonObject } from '../../providers/types.js';
import { isDeterministic, requestKey } from '../cache/request-key.js';
import { estimatePrompt } from '../inference/estimate.js';
import type {
  InferenceCall,
  InferenceResult,
  InferenceStream,
  Served,
} from '../inference/inference-service.js';
import type { Capability } from '../inference/model-catalog.js';
import { createRelay, type StreamOutcome } from '../inference/stream-relay.js';
import {
  type FlightEntry,
  type ServedName,
  type SharedError,
  shareError,
  toError,
} from './entries.js';
import type { FlightExchange } from './exchange.js';
import { type DedupMetrics, type DedupSettings, feed } from './feeder.js';
import { Flight, type Member } from './flight.js';
import type { Upstream, UpstreamCall } from './upstream-pump.js';

export type { DedupMetrics, DedupSettings };

/**
 * How a request was answered. `dedupOf` names the request whose upstream call answered this
 * one when it was not its own: such a request is accounted without an upstream cost.
 */
export interface Deduped {
  readonly dedupOf?: string | null;
}

/** The upstream calls of the inference routes, with deduplication or without. */
export interface Inference {
  complete(
    capability: Capability,
    body: JsonObject,
    call: InferenceCall,
    model: ModelConfig,
  ): Promise<InferenceResult & Deduped>;
  stream(
    capability: Exclude<Capability, 'embeddings'>,
    body: JsonObject,
    call: InferenceCall,
    model: ModelConfig,
  ): Promise<InferenceStream & Deduped>;
}

export interface DeduplicatorOptions {
  upstream: Upstream;
  /** Where instances meet (Redis); null: this instance's own flights only. */
  exchange: FlightExchange | null;
  settings: DedupSettings;
  /** The configured models: a leader elsewhere names the model and deployment that answered. */
  models: readonly ModelConfig[];
  metrics?: DedupMetrics;
  onError?: (error: unknown, message: string) => void;
}

const NO_METRICS: DedupMetrics = { leader: () => {}, follower: () => {}, takeover: () => {} };

/**
 * Identical requests in flight share one upstream call: the first becomes the flight's
 * leader, the others subscribe to its answer, here or on any instance (through the
 * exchange), chunk by chunk for streams. Only tenants' requests whose answer does not vary
 * are shared, per tenant; everything else goes straight to the upstream.
 */
export class Deduplicator implements Inference {
  private readonly flights = new Map<string, Flight>();
  private readonly models: Map<string, ModelConfig>;
  private readonly metrics: DedupMetrics;
  private readonly health = { pausedUntil: 0 };

  constructor(private readonly options: DeduplicatorOptions) {
    this.models = new Map(options.models.map((model) => [model.name, model]));
    this.metrics = options.metrics ?? NO_METRICS;
  }

  complete(capability: Capability, body: JsonObject, call: InferenceCall, model: ModelConfig) {
    return this.completeShared({ capability, body, call, model, stream: false }, false);
  }

  stream(
    capability: Exclude<Capability, 'embeddings'>,
    body: JsonObject,
    call: InferenceCall,
    model: ModelConfig,
  ) {
    return this.streamShared({ capability, body, call, model, stream: true }, false);
  }

  /**
   * The flight key: the tenant's request key, and the answer's shape, since a follower relays
   * the leader's entries as they are. Null for a request that is not shared.
   */
  private keyOf(request: UpstreamCall): string | null {
    const { capability, body, call, model } = request;
    if (call.tenantId === null) return null;
    if (!this.options.settings.nondeterministic && !isDeterministic(capability, body)) return null;
    const key = requestKey({ tenantId: call.tenantId, capability, model: model.name, body });
    // A Responses API request may get a `response` from a native upstream, not a chat answer.
    const shape = call.responses ? 'r' : '';
    return `${key}.${request.stream && capability !== 'embeddings' ? 's' : 'j'}${shape}`;
  }

  /** The flight of this key in this process, joined, or a new one this request starts. */
  private board(tenantId: string, key: string, request: UpstreamCall) {
    const existing = this.flights.get(key);
    if (existing !== undefined && !existing.done) {
      this.metrics.follower();
      return { flight: existing, member: existing.join(request.call.signal) };
    }
    const flight = new Flight(request.call.requestId);
    this.flights.set(key, flight);
    // Joined before the feeding starts, so the flight is never without its first subscriber.
    const member = flight.join(request.call.signal);
    const feeder = {
      upstream: this.options.upstream,
      exchange: this.options.exchange,
      settings: this.options.settings,
      metrics: this.metrics,
      onError: this.options.onError ?? (() => {}),
      health: this.health,
    };
    void feed(feeder, flight, tenantId, key, request)
      .catch((error: unknown) => {
        // Never left without an end: its subscribers would wait forever.
        feeder.onError(error, 'request deduplication failed');
        const failure = new GatewayError('internal_error', { cause: error });
        flight.append({ type: 'error', error: shareError(failure), usage: null });
      })
      .finally(() => {
        if (this.flights.get(key) === flight) this.flights.delete(key);
      });
    return { flight, member };
  }

  private async completeShared(
    request: UpstreamCall,
    retried: boolean,
  ): Promise<InferenceResult & Deduped> {
    const { capability, body, call, model } = request;
    const key = this.keyOf(request);
    if (key === null || call.tenantId === null)
      return this.options.upstream.complete(capability, body, call, model);
    const { flight, member } = this.board(call.tenantId, key, request);
    try {
      for await (const entry of flight.read()) {
        if (entry.type === 'error') {
          if (this.retries(flight, member, entry.error, retried))
            return this.completeShared(request, true);
          throw toError(entry.error);
        }
        if (entry.type !== 'result') continue;
        member.taken = true;
        const served = this.servedOf(entry.served, model);
        // A fallback this caller may not use answered the others: it asks on its own.
        if (!call.mayUse(served.model))
          return this.options.upstream.complete(capability, body, call, model);
        const dedupOf = flight.payer === member ? null : flight.leaderRequestId;
        return { ...served, body: entry.body, usage: entry.usage, dedupOf };
      }
      throw new Error('a flight ended without a final entry');
    } finally {
      member.leave();
    }
  }

  private async streamShared(
    request: UpstreamCall & { capability: Exclude<Capability, 'embeddings'> },
    retried: boolean,
  ): Promise<InferenceStream & Deduped> {
    const { capability, body, call, model } = request;
    const key = this.keyOf(request);
    if (key === null || call.tenantId === null)
      return this.options.upstream.stream(capability, body, call, model);
    // The time to the first chunk counts from the request, not from the leader's first chunk.
    const startedAt = performance.now();
    const { flight, member } = this.board(call.tenantId, key, request);
    const entries = flight.read();
    const first = (await entries.next()).value as FlightEntry;
    if (first.type !== 'head') {
      member.leave();
      const error = first.type === 'error' ? first.error : null;
      if (error !== null && this.retries(flight, member, error, retried))
        return this.streamShared(request, true);
      throw error === null ? new Error(`a stream flight began with ${first.type}`) : toError(error);
    }
    member.taken = true;
    const served = this.servedOf(first.served, model);
    if (!call.mayUse(served.model)) {
      member.leave();
      return this.options.upstream.stream(capability, body, call, model);
    }
    const relay = createRelay({
      upstream: chunksOf(entries, member.leave),
      clientWantsUsage: wantsUsage(body),
      signal: call.signal,
      startedAt,
      estimatePrompt: () => estimatePrompt(capability, body),
      // Each request's own last step before its [DONE] (its usage event), not the leader's.
      commit: call.commit,
    });
    // Whether this request paid is known at its end: a follower may have taken over.
    const paid = () => flight.payer === member;
    return {
      events: relay.events,
      progress: relay.progress,
      outcome: relay.outcome.then((outcome) => (paid() ? upstreamUsage(flight, outcome) : outcome)),
      ...served,
      get dedupOf() {
        return paid() ? null : flight.leaderRequestId;
      },
    };
  }

  /** Whether a request retries after its flight failed before answering: not the one that paid. */
  private retries(flight: Flight, member: Member, error: SharedError, retried: boolean): boolean {
    return !retried && error.retryable && flight.payer !== member;
  }

  /** The configured model and deployment a leader named; the requested ones if unknown here. */
  private servedOf(name: ServedName, requested: ModelConfig): Served {
    const model = this.models.get(name.model) ?? requested;
    const deployment: DeploymentConfig | undefined =
      model.deployments.find((d) => d.id === name.deployment) ?? model.deployments[0];
    if (deployment === undefined) throw new Error(`model '${model.name}' has no deployment`);
    return { model, deployment, attempts: name.attempts, byok: name.byok ?? false };
  }
}

/** The flight's chunks as upstream data; its error, thrown, becomes the relay's error event. */
async function* chunksOf(entries: AsyncGenerator<FlightEntry>, leave: () => void) {
  try {
    for await (const entry of entries) {
      if (entry.type === 'chunk') yield entry.data;
      else if (entry.type === 'error') throw toError(entry.error);
      else if (entry.type === 'end') return;
    }
  } finally {
    leave();
  }
}

function wantsUsage(body: JsonObject): boolean {
  const options = body.stream_options;
  return options !== null && typeof options === 'object' && !Array.isArray(options)
    ? (options as Record<string, unknown>).include_usage === true
    : false;
}

/**
 * The request whose call answered the flight is accounted with the whole call's usage, even
 * when its own client left before the end: the upstream was paid for all of it.
 */
async function upstreamUsage(flight: Flight, outcome: StreamOutcome): Promise<StreamOutcome> {
  for await (const entry of flight.read()) {
    if ((entry.type === 'end' || entry.type === 'error') && entry.usage !== null)
      return { ...outcome, usage: entry.usage };
  }
  return outcome;
}
