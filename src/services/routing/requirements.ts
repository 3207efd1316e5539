import type { ModelConfig } from '../../config/load.js';
import type { JsonObject } from '../../providers/types.js';

/** What a request asks of the model that serves it. */
export interface Requirements {
  promptTokens: number;
  /** The completion tokens the request allows (max_tokens); 0 when it sets none. */
  completionTokens: number;
  tools: boolean;
  vision: boolean;
  jsonMode: boolean;
  /** Models whose observed latency is above this are passed over; null for no bound. */
  maxLatencyMs: number | null;
}

function hasImage(messages: unknown): boolean {
  if (!Array.isArray(messages)) return false;
  return messages.some((message) => {
    const content = (message as { content?: unknown } | null)?.content;
    return (
      Array.isArray(content) &&
      content.some((part) => (part as { type?: unknown } | null)?.type === 'image_url')
    );
  });
}

export function requirementsOf(
  body: JsonObject,
  promptTokens: number,
  maxLatencyMs: number | null,
): Requirements {
  const format = (body.response_format as { type?: unknown } | undefined)?.type;
  const limit = body.max_completion_tokens ?? body.max_tokens;
  return {
    promptTokens,
    completionTokens: typeof limit === 'number' ? limit : 0,
    tools: Array.isArray(body.tools) && body.tools.length > 0,
    vision: hasImage(body.messages),
    jsonMode: format === 'json_object' || format === 'json_schema',
    maxLatencyMs,
  };
}

/** The first need the model fails, named for the error message; null when it meets all. */
export function unmetNeed(
  model: ModelConfig,
  needs: Requirements,
  latencyMs: number | null,
): string | null {
  const { capabilities: c } = model;
  const window = c.contextWindow;
  if (window !== null && needs.promptTokens + needs.completionTokens > window)
    return 'context length';
  if (needs.tools && !c.tools) return 'tools';
  if (needs.vision && !c.vision) return 'vision';
  if (needs.jsonMode && !c.jsonMode) return 'JSON mode';
  if (needs.maxLatencyMs !== null && latencyMs !== null && latencyMs > needs.maxLatencyMs)
    return 'latency';
  return null;
}

/** What the request would cost on the model, in dollars, from its own price table. */
export function estimatedCost(model: ModelConfig, needs: Requirements): number {
  const { input, output } = model.pricing;
  return (needs.promptTokens * input + needs.completionTokens * output) / 1_000_000;
}
