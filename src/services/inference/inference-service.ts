import type { DeploymentConfig, ModelConfig, RoutingStrategy } from '../../config/load.js';
import { UpstreamError } from '../../providers/errors.js';
import type { ProviderRegistry } from '../../providers/registry.js';
import type { CallContext, ChunkStream, JsonObject, Provider } from '../../providers/types.js';
import { peekFirst } from '../../utils/peek.js';
import { type AttemptTarget, type ModelRouter, RouteFailure } from '../routing/model-router.js';
import { NOOP_SPAN, type Span } from '../tracing/span.js';
import { estimatedUsage, estimatePrompt, estimateTokens, messageText } from './estimate.js';
import type { Capability } from './model-catalog.js';
import { createRelay, type Relay, type RelayOptions } from './stream-relay.js';
import { toGatewayError } from './upstream-errors.js';
import { readUsage, type Usage } from './usage.js';

/** Where a request was served: the model (a fallback, maybe) and its deployment. */
export interface Served {
  model: ModelConfig;
  deployment: DeploymentConfig;
  /** Upstream calls made, the successful one included. */
  attempts: number;
  /** Sent with the tenant's own provider key: the provider bills the tenant, not the platform. */
  byok: boolean;
}

export interface InferenceResult extends Served {
  body: JsonObject;
  usage: Usage;
}

export interface InferenceStream extends Relay, Served {}

/** A tenant's own key for a provider; null to use the platform's. */
export type TenantKeyLookup = (tenantId: string, providerId: string) => Promise<string | null>;

export interface InferenceServiceOptions {
  providers: ProviderRegistry;
  router: ModelRouter;
  /** Providers whose requests may carry a tenant's own key. */
  tenantKeyProviders?: ReadonlySet<string>;
  keyFor?: TenantKeyLookup;
}

/** One request's call: who asks, which models may stand in, how to route. */
export interface InferenceCall {
  signal: AbortSignal;
  requestId: string;
  /** The calling tenant, for its own provider keys; null for platform callers. */
  tenantId: string | null;
  /** Whether a fallback model may serve this request (the caller's model access). */
  mayUse: (model: ModelConfig) => boolean;
  strategy?: RoutingStrategy;
  /** A stream's last step before its final `data: [DONE]` (see RelayOptions.commit). */
  commit?: RelayOptions['commit'];
  /** The request's span: each upstream attempt is a client span under it. */
  trace?: Span;
  /** The client's trace context, sent upstream unchanged when no span of ours is (tracing off). */
  clientTrace?: Readonly<Record<string, string>> | null;
  /**
   * The request as OpenAI's Responses API has it (`/v1/responses`): a deployment whose
   * provider speaks that API gets it instead of `body`, the chat request, and answers with a
   * `response` (or its typed events); the others get the chat request.
   */
  responses?: JsonObject;
}

type StreamCapability = Exclude<Capability, 'embeddings'>;

export const ATTEMPTS_HEADER = 'x-llm-backend-attempts';

const positive = (value: unknown): number =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : 0;

/**
 * Serves one inference request: the router picks deployments (retries, failover, fallback
 * models), and each attempt maps the model name to the deployment's and calls its provider.
 * Knows nothing of HTTP.
 */
export class InferenceService {
  constructor(private readonly options: InferenceServiceOptions) {}

  async complete(
    capability: Capability,
    body: JsonObject,
    call: InferenceCall,
    model: ModelConfig,
  ): Promise<InferenceResult> {
    const routed = await this.route(capability, body, call, model, async (target) => {
      const span = attemptSpan(call, capability, target);
      try {
        const { provider, ctx } = await this.prepare(target.deployment, call, span);
        const upstreamBody = { ...body, model: target.deployment.upstreamModel };
        const byok = ctx.apiKey !== undefined;
        const native = call.responses && provider.responses;
        if (capability === 'chat' && native) {
          const nativeBody = { ...call.responses, model: target.deployment.upstreamModel };
          return { value: { response: await native.create(nativeBody, ctx), byok } };
        }
        if (capability === 'chat')
          return { value: { response: await provider.chatCompletion(upstreamBody, ctx), byok } };
        if (capability === 'completions')
          return { value: { response: await provider.completion(upstreamBody, ctx), byok } };
        return { value: { response: await provider.embeddings(upstreamBody, ctx), byok } };
      } catch (error) {
        failAttempt(span, error);
        throw error;
      } finally {
        span.end();
      }
    });
    const { response, byok } = routed.value;
    const usage = readUsage(response.usage) ?? (await estimateResponse(capability, body, response));
    const { model: served, deployment, attempts } = routed;
    return { model: served, deployment, attempts, byok, body: response, usage };
  }

  /**
   * Opens a stream on the first deployment that sends a first chunk: until then a failure
   * moves on to the next one; after it, the client has bytes and the stream is final.
   */
  async stream(
    capability: StreamCapability,
    body: JsonObject,
    call: InferenceCall,
    model: ModelConfig,
  ): Promise<InferenceStream> {
    const started = performance.now();
    const clientOptions = isObject(body.stream_options) ? body.stream_options : {};
    let ended: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      ended = resolve;
    });
    let served: Span = NOOP_SPAN;
    const routed = await this.route(capability, body, call, model, async (target) => {
      const span = attemptSpan(call, capability, target);
      try {
        const { provider, ctx } = await this.prepare(target.deployment, call, span);
        // Usage is needed for accounting even when the client did not ask for it; the relay
        // hides the extra usage from such a client.
        const upstreamBody = {
          ...body,
          model: target.deployment.upstreamModel,
          stream_options: { ...clientOptions, include_usage: true },
        };
        const native = capability === 'chat' && call.responses ? provider.responses : undefined;
        const upstream = native
          ? await native.stream({ ...call.responses, model: upstreamBody.model, stream: true }, ctx)
          : capability === 'chat'
            ? await provider.chatCompletionStream(upstreamBody, ctx)
            : await provider.completionStream(upstreamBody, ctx);
        const value = await afterFirstChunk(upstream);
        served = span;
        return { value: { upstream: value, byok: ctx.apiKey !== undefined }, finished };
      } catch (error) {
        failAttempt(span, error);
        span.end();
        throw error;
      }
    });
    const relay = createRelay({
      upstream: routed.value.upstream,
      clientWantsUsage: clientOptions.include_usage === true,
      signal: call.signal,
      startedAt: started,
      estimatePrompt: () => estimatePrompt(capability, body),
      commit: call.commit,
    });
    void relay.outcome.finally(ended);
    // The serving attempt's span lasts as long as its stream: a cut one fails it.
    void relay.outcome.then(
      (outcome) => {
        if (outcome.error) failAttempt(served, outcome.error);
        served.end();
      },
      () => served.end(),
    );
    return {
      ...relay,
      model: routed.model,
      deployment: routed.deployment,
      attempts: routed.attempts,
      byok: routed.value.byok,
    };
  }

  private async route<T>(
    capability: Capability,
    body: JsonObject,
    call: InferenceCall,
    model: ModelConfig,
    attempt: (target: AttemptTarget) => Promise<{ value: T; finished?: Promise<void> }>,
  ) {
    try {
      return await this.options.router.run(
        {
          model,
          strategy: call.strategy,
          tokens: await routingTokens(capability, body, model),
          signal: call.signal,
          mayUse: (candidate) => candidate.capabilities[capability] && call.mayUse(candidate),
        },
        attempt,
      );
    } catch (error) {
      if (!(error instanceof RouteFailure)) throw toGatewayError(error);
      const failure = toGatewayError(error.cause);
      // Failed requests say how hard the gateway tried, as served ones do.
      if (error.attempts > 0) failure.headers[ATTEMPTS_HEADER] = String(error.attempts);
      throw failure;
    }
  }

  private async prepare(
    deployment: DeploymentConfig,
    call: InferenceCall,
    span: Span,
  ): Promise<{ provider: Provider; ctx: CallContext }> {
    const provider = this.options.providers.get(deployment.providerId);
    // Config validation makes this unreachable; kept so a bad registry fails loudly.
    if (provider === undefined) throw new Error(`no provider '${deployment.providerId}'`);
    const ctx: CallContext = {
      signal: call.signal,
      requestId: call.requestId,
      // Our attempt span is the upstream's parent; with tracing off, the client's context.
      traceHeaders: span.headers() ?? call.clientTrace,
    };
    const { keyFor, tenantKeyProviders } = this.options;
    if (call.tenantId !== null && keyFor && tenantKeyProviders?.has(deployment.providerId)) {
      const key = await keyFor(call.tenantId, deployment.providerId);
      if (key !== null) ctx.apiKey = key;
    }
    return { provider, ctx };
  }
}

const OPERATIONS: Record<Capability, string> = {
  chat: 'chat',
  completions: 'text_completion',
  embeddings: 'embeddings',
};

/** One upstream attempt's client span, named as OpenTelemetry's GenAI conventions do. */
function attemptSpan(call: InferenceCall, capability: Capability, target: AttemptTarget): Span {
  const trace = call.trace ?? NOOP_SPAN;
  if (!trace.enabled) return trace;
  const { deployment } = target;
  const operation = OPERATIONS[capability];
  return trace.child(
    `${operation} ${deployment.upstreamModel}`,
    {
      'gen_ai.operation.name': operation,
      'gen_ai.request.model': deployment.upstreamModel,
      'llm_backend.model': target.model.name,
      'llm_backend.deployment': deployment.id,
      'llm_backend.provider': deployment.providerId,
    },
    'client',
  );
}

/** What the upstream said, on the attempt's span: its HTTP status, or how it failed. */
function failAttempt(span: Span, error: unknown): void {
  if (error instanceof UpstreamError) {
    const { failure } = error;
    span.set({
      'llm_backend.upstream.failure': failure.kind,
      'http.response.status_code': failure.kind === 'http' ? failure.status : undefined,
    });
  }
  span.fail(error);
}

/**
 * Tokens held against deployments' own per-minute token limits; counted only when a
 * deployment of the model has one, since counting costs a tokenizer pass.
 */
async function routingTokens(
  capability: Capability,
  body: JsonObject,
  model: ModelConfig,
): Promise<number> {
  if (model.deployments.every((d) => d.tokensPerMinute === null)) return 0;
  const completion = positive(body.max_completion_tokens) || positive(body.max_tokens);
  return (await estimatePrompt(capability, body)) + completion;
}

/** Waits for the first chunk, so a stream that fails before it can still be retried. */
async function afterFirstChunk(stream: ChunkStream): Promise<ChunkStream> {
  return (await peekFirst(stream)).all;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

async function estimateResponse(
  capability: Capability,
  body: JsonObject,
  response: JsonObject,
): Promise<Usage> {
  const promptTokens = await estimatePrompt(capability, body);
  if (capability === 'embeddings') return estimatedUsage(promptTokens, 0);
  const choices = Array.isArray(response.choices) ? (response.choices as JsonObject[]) : [];
  const produced = choices.map((choice) =>
    capability === 'chat' ? messageText(choice.message) : choice.text,
  );
  return estimatedUsage(promptTokens, await estimateTokens(produced));
}
