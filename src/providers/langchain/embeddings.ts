import type { JsonObject } from '../types.js';
import { InvalidRequest } from './errors.js';

/** The texts of an embeddings request; token arrays cannot go through LangChain. */
export function embeddingInputs(input: unknown): string[] {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.length > 0 && input.every((item) => typeof item === 'string'))
    return input as string[];
  throw new InvalidRequest(
    'input must be a string or an array of strings for this model.',
    'input',
  );
}

export function encodingFormat(value: unknown): 'float' | 'base64' {
  if (value === undefined || value === null || value === 'float') return 'float';
  if (value === 'base64') return 'base64';
  throw new InvalidRequest('encoding_format must be "float" or "base64".', 'encoding_format');
}

/**
 * LangChain's vectors as OpenAI's embeddings list. No `usage`: LangChain reports none, and
 * the gateway estimates it when the upstream gives none.
 */
export function toEmbeddingList(
  vectors: number[][],
  model: string,
  format: 'float' | 'base64',
): JsonObject {
  return {
    object: 'list',
    model,
    data: vectors.map((vector, index) => ({
      object: 'embedding',
      index,
      embedding:
        format === 'base64'
          ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
          : vector,
    })),
  };
}
