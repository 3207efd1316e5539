import type { UpstreamTimeouts } from '../config/env.js';

export type JsonObject = Record<string, unknown>;

/** What every provider reached over HTTP shares. */
export interface HttpProviderSettings {
  id: string;
  /** Base URL without a trailing slash; what it includes depends on the provider type. */
  baseUrl: string;
  /** The platform's key for this provider, from the environment; null for none. */
  apiKey: string | null;
  /** Tenants may store their own key for this provider, used instead of `apiKey`. */
  tenantKeys: boolean;
  headers: Readonly<Record<string, string>>;
  maxConnections: number;
  timeouts: UpstreamTimeouts;
}

/** `baseUrl` includes the version prefix (e.g. .../v1). */
export interface OpenAICompatibleProviderConfig extends HttpProviderSettings {
  type: 'openai-compatible';
  /** The upstream serves OpenAI's Responses API (`/responses`), used for `/v1/responses`. */
  responsesApi?: boolean;
}

/**
 * Azure OpenAI: `baseUrl` is the resource endpoint (https://NAME.openai.azure.com); the
 * upstream model name is the Azure deployment name, which goes into the URL path.
 */
export interface AzureOpenAIProviderConfig extends HttpProviderSettings {
  type: 'azure-openai';
  apiVersion: string;
  /** The resource serves the Responses API (`/openai/v1/responses`), used for `/v1/responses`. */
  responsesApi?: boolean;
}

/** Anthropic's Messages API; `baseUrl` is the host (https://api.anthropic.com). */
export interface AnthropicProviderConfig extends HttpProviderSettings {
  type: 'anthropic';
  /** The `anthropic-version` header. */
  version: string;
  /** Anthropic requires max_tokens; sent when the client set none. */
  defaultMaxTokens: number;
}

/**
 * Any LangChain.js chat model (and optionally embeddings) class, loaded from an installed
 * package by name. `options` go to the class constructor as they are.
 */
export interface LangChainProviderConfig {
  id: string;
  type: 'langchain';
  /** The npm package that exports the classes, e.g. `@langchain/anthropic`. */
  module: string;
  chatClass: string | null;
  embeddingsClass: string | null;
  options: Readonly<Record<string, unknown>>;
  apiKey: string | null;
  /** The constructor option the key goes into (`apiKey` for most integrations). */
  apiKeyOption: string;
  tenantKeys: boolean;
}

export interface MockProviderConfig {
  id: string;
  type: 'mock';
  latencyMs: number;
  tokensPerSecond: number;
  embeddingDimensions: number;
}

export type ProviderConfig =
  | OpenAICompatibleProviderConfig
  | AzureOpenAIProviderConfig
  | AnthropicProviderConfig
  | LangChainProviderConfig
  | MockProviderConfig;

export interface CallContext {
  /** Aborted when the client goes away or the gateway gives up; providers must stop at once. */
  signal: AbortSignal;
  requestId: string;
  /**
   * The caller's own key for this provider (a tenant's stored key), used instead of the
   * configured one. Providers never learn whose it is.
   */
  apiKey?: string;
  /**
   * W3C trace context headers (`traceparent`, maybe `tracestate`) for this call's HTTP
   * request, so the upstream's spans join the trace; HTTP providers send them as they are.
   */
  traceHeaders?: Readonly<Record<string, string>> | null;
}

/**
 * A stream of Server-Sent Events `data` payloads, in the OpenAI chunk format, without the
 * final `[DONE]`. Ends normally only after the upstream sent `[DONE]`.
 */
export type ChunkStream = AsyncIterable<string>;

/**
 * What every upstream adapter implements. Bodies are OpenAI request bodies with `model`
 * already mapped to the upstream's name; everything else is the client's, untouched.
 * Providers know nothing of tenants, keys or limits.
 */
export interface Provider {
  readonly id: string;
  chatCompletion(body: JsonObject, ctx: CallContext): Promise<JsonObject>;
  chatCompletionStream(body: JsonObject, ctx: CallContext): Promise<ChunkStream>;
  completion(body: JsonObject, ctx: CallContext): Promise<JsonObject>;
  completionStream(body: JsonObject, ctx: CallContext): Promise<ChunkStream>;
  embeddings(body: JsonObject, ctx: CallContext): Promise<JsonObject>;
  listModels(ctx: CallContext): Promise<JsonObject>;
  /**
   * OpenAI's Responses API, only on providers configured with `responses_api`: the body is
   * a Responses request (the stream's payloads, its typed events, up to the terminal one).
   */
  readonly responses?: {
    create(body: JsonObject, ctx: CallContext): Promise<JsonObject>;
    stream(body: JsonObject, ctx: CallContext): Promise<ChunkStream>;
  };
  close(): Promise<void>;
}
