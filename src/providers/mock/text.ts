import { createHash } from 'node:crypto';

/** The mock's own "tokens": words with their leading space, cheap and deterministic. */
export function mockTokens(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

export function mockTokenCount(value: unknown): number {
  if (typeof value === 'string') return mockTokens(value).length;
  if (Array.isArray(value))
    return value.reduce((sum: number, item) => sum + mockTokenCount(item), 0);
  if (value !== null && typeof value === 'object') {
    return Object.values(value).reduce((sum: number, item) => sum + mockTokenCount(item), 0);
  }
  return 0;
}

/** The text of the last user message, from string or content-part form. */
export function lastUserText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const message: unknown = messages[i];
    if (message === null || typeof message !== 'object') continue;
    const { role, content } = message as { role?: unknown; content?: unknown };
    if (role !== 'user') continue;
    if (typeof content === 'string') return content;
    if (Array.isArray(content)) {
      return content
        .map((part: unknown) => (part as { text?: unknown })?.text)
        .filter((text): text is string => typeof text === 'string')
        .join(' ');
    }
  }
  return '';
}

export function mockReply(model: string, prompt: string, choice: number): string {
  const echo = prompt.trim().replace(/\s+/g, ' ').slice(0, 200);
  const suffix = choice > 0 ? ` (choice ${choice + 1})` : '';
  return `This is a mock reply from ${model}${suffix}. You said: "${echo}"`;
}

/** A pseudo-random direction (not normalised) that only `word` and the length decide. */
function wordDirection(word: string, dimensions: number): number[] {
  const values: number[] = [];
  let block = createHash('sha256').update(word).digest();
  while (values.length < dimensions) {
    for (let i = 0; i + 1 < block.length && values.length < dimensions; i += 2) {
      values.push(block.readUInt16BE(i) / 32767.5 - 1);
    }
    block = createHash('sha256').update(block).digest();
  }
  return values;
}

/**
 * A bag of words, so the mock ranks texts as a real embedding model roughly would: each word
 * (lowercased, letters and digits) has a pseudo-random unit direction from its hash, and a
 * text is the normalised sum of its words'. Equal texts embed equally; the same words in
 * another order, case or punctuation embed equally too; texts sharing most of their words
 * are close (cosine similarity near 1), unrelated ones are not (about 0, give or take
 * 1/sqrt(dimensions)). A text without a word counts as one word, itself.
 */
export function mockEmbedding(text: string, dimensions: number): number[] {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [text];
  const sum = new Array<number>(dimensions).fill(0);
  for (const word of words) {
    const direction = wordDirection(word, dimensions);
    const length = Math.hypot(...direction) || 1;
    for (let i = 0; i < dimensions; i++) sum[i] = (sum[i] ?? 0) + (direction[i] ?? 0) / length;
  }
  const norm = Math.hypot(...sum) || 1;
  return sum.map((value) => value / norm);
}

export function toBase64Floats(vector: number[]): string {
  return Buffer.from(new Float32Array(vector).buffer).toString('base64');
}
