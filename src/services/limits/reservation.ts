import { estimatePrompt } from '../inference/estimate.js';
import type { Capability } from '../inference/model-catalog.js';

const positive = (value: unknown): number | null =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : null;

/**
 * The tokens a request may use, reserved against tokens-per-minute limits before the call:
 * its prompt, counted, and the most it may generate (`max_completion_tokens`, `max_tokens`,
 * else `defaultCompletion`) for each of its `n` choices. Corrected to the real usage after.
 */
export async function tokensToReserve(
  capability: Capability,
  body: Record<string, unknown>,
  defaultCompletion: number,
): Promise<number> {
  const prompt = await estimatePrompt(capability, body);
  if (capability === 'embeddings') return prompt;
  const perChoice =
    positive(body.max_completion_tokens) ?? positive(body.max_tokens) ?? defaultCompletion;
  return prompt + perChoice * (positive(body.n) ?? 1);
}
