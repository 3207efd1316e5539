import { estimatePrompt, promptTokensBound } from '../inference/estimate.js';
import type { Capability } from '../inference/model-catalog.js';
import type { Reservation } from './limiter.js';

const positive = (value: unknown): number | null =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : null;

/**
 * The tokens a request may use, reserved against token limits and quotas before the call:
 * at least its prompt (its UTF-8 length bounds its tokens, so no tokenizer is loaded or run to
 * admit a request), and the most it may generate (`max_completion_tokens`, `max_tokens`,
 * else `defaultCompletion`) for each of its `n` choices. Corrected to the real usage after.
 * `exactly` counts the prompt with the tokenizer instead: for a bound that was refused.
 */
export async function tokensToReserve(
  capability: Capability,
  body: Record<string, unknown>,
  defaultCompletion: number,
  exactly = false,
): Promise<Reservation> {
  const promptTokens = exactly
    ? await estimatePrompt(capability, body)
    : promptTokensBound(capability, body);
  if (capability === 'embeddings') return { promptTokens, completionTokens: 0 };
  const perChoice =
    positive(body.max_completion_tokens) ?? positive(body.max_tokens) ?? defaultCompletion;
  return { promptTokens, completionTokens: perChoice * (positive(body.n) ?? 1) };
}
