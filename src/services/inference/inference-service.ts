import type { ModelConfig } from '../../config/load.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ProviderRegistry } from '../../providers/registry.js';
import type { CallContext, JsonObject, Provider } from '../../providers/types.js';
import { estimatedUsage, estimatePrompt, estimateTokens, messageText } from './estimate.js';
import type { Allowed, Capability, ModelCatalog } from './model-catalog.js';
import { createRelay, type Relay } from './stream-relay.js';
import { toGatewayError } from './upstream-errors.js';
import { readUsage, type Usage } from './usage.js';

export interface InferenceResult {
  body: JsonObject;
  usage: Usage;
  model: ModelConfig;
}

export interface InferenceStream extends Relay {
  model: ModelConfig;
}

export interface InferenceServiceOptions {
  catalog: ModelCatalog;
  providers: ProviderRegistry;
}

type StreamCapability = Exclude<Capability, 'embeddings'>;

/**
 * Serves one inference request: resolves the public model, maps its name to the upstream's,
 * calls the provider and reads usage. Knows nothing of HTTP.
 */
export class InferenceService {
  constructor(private readonly options: InferenceServiceOptions) {}

  async complete(
    capability: Capability,
    body: JsonObject,
    ctx: CallContext,
    model: ModelConfig,
  ): Promise<InferenceResult> {
    const provider = this.provider(model);
    const upstreamBody = { ...body, model: model.upstreamModel };
    let response: JsonObject;
    try {
      if (capability === 'chat') response = await provider.chatCompletion(upstreamBody, ctx);
      else if (capability === 'completions')
        response = await provider.completion(upstreamBody, ctx);
      else response = await provider.embeddings(upstreamBody, ctx);
    } catch (error) {
      throw toGatewayError(error);
    }
    const usage = readUsage(response.usage) ?? (await estimateResponse(capability, body, response));
    return { body: response, usage, model };
  }

  async stream(
    capability: StreamCapability,
    body: JsonObject,
    ctx: CallContext,
    model: ModelConfig,
  ): Promise<InferenceStream> {
    const provider = this.provider(model);
    const clientOptions = isObject(body.stream_options) ? body.stream_options : {};
    const clientWantsUsage = clientOptions.include_usage === true;
    // Usage is needed for accounting even when the client did not ask for it; the relay
    // hides the extra usage from such a client.
    const upstreamBody = {
      ...body,
      model: model.upstreamModel,
      stream_options: { ...clientOptions, include_usage: true },
    };
    let upstream: Awaited<ReturnType<Provider['chatCompletionStream']>>;
    try {
      upstream =
        capability === 'chat'
          ? await provider.chatCompletionStream(upstreamBody, ctx)
          : await provider.completionStream(upstreamBody, ctx);
    } catch (error) {
      throw toGatewayError(error);
    }
    const relay = createRelay({
      upstream,
      clientWantsUsage,
      signal: ctx.signal,
      estimatePrompt: () => estimatePrompt(capability, body),
    });
    return { ...relay, model };
  }

  /**
   * The model a request names, if the caller may use it for this capability; else a 4xx.
   * Resolved once per request, before limits are checked, and handed to complete or stream.
   */
  resolve(capability: Capability, body: JsonObject, allowed: Allowed = null): ModelConfig {
    return this.options.catalog.resolve(String(body.model), capability, allowed);
  }

  private provider(model: ModelConfig): Provider {
    const provider = this.options.providers.get(model.providerId);
    // Config validation makes this unreachable; kept so a bad registry fails loudly.
    if (provider === undefined) throw new GatewayError('internal_error');
    return provider;
  }
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
