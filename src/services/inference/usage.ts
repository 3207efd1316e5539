import type { Usage } from '../../domain/usage-record.js';

export type { Usage };

function count(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
}

/**
 * Reads OpenAI's `usage` object, chat's (`prompt_tokens`...) or the Responses API's
 * (`input_tokens`...); null when it is absent or unusable.
 */
export function readUsage(value: unknown): Usage | null {
  if (value === null || typeof value !== 'object') return null;
  const raw = value as {
    prompt_tokens?: unknown;
    completion_tokens?: unknown;
    total_tokens?: unknown;
    prompt_tokens_details?: { cached_tokens?: unknown } | null;
    input_tokens?: unknown;
    output_tokens?: unknown;
    input_tokens_details?: { cached_tokens?: unknown } | null;
  };
  const promptTokens = count(raw.prompt_tokens) ?? count(raw.input_tokens);
  if (promptTokens === null) return null;
  const completionTokens = count(raw.completion_tokens) ?? count(raw.output_tokens) ?? 0;
  const cached =
    raw.prompt_tokens_details?.cached_tokens ?? raw.input_tokens_details?.cached_tokens;
  return {
    promptTokens,
    completionTokens,
    cachedTokens: count(cached) ?? 0,
    totalTokens: count(raw.total_tokens) ?? promptTokens + completionTokens,
    estimated: false,
  };
}
