import type { UpstreamTimeouts } from '../config/env.js';

export type JsonObject = Record<string, unknown>;

export interface OpenAICompatibleProviderConfig {
  id: string;
  type: 'openai-compatible';
  /** Base URL including the version prefix, without a trailing slash (e.g. .../v1). */
  baseUrl: string;
  apiKey: string | null;
  headers: Readonly<Record<string, string>>;
  maxConnections: number;
  timeouts: UpstreamTimeouts;
}

export interface MockProviderConfig {
  id: string;
  type: 'mock';
  latencyMs: number;
  tokensPerSecond: number;
  embeddingDimensions: number;
}

export type ProviderConfig = OpenAICompatibleProviderConfig | MockProviderConfig;

export interface CallContext {
  /** Aborted when the client goes away or the gateway gives up; providers must stop at once. */
  signal: AbortSignal;
  requestId: string;
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
  close(): Promise<void>;
}
