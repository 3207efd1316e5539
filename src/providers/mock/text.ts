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

/** A unit vector derived from the text, so equal inputs embed equally. */
export function mockEmbedding(text: string, dimensions: number): number[] {
  const values: number[] = [];
  let block = createHash('sha256').update(text).digest();
  while (values.length < dimensions) {
    for (let i = 0; i + 1 < block.length && values.length < dimensions; i += 2) {
      values.push(block.readUInt16BE(i) / 32767.5 - 1);
    }
    block = createHash('sha256').update(block).digest();
  }
  const norm = Math.sqrt(values.reduce((sum, v) => sum + v * v, 0)) || 1;
  return values.map((v) => v / norm);
}

export function toBase64Floats(vector: number[]): string {
  return Buffer.from(new Float32Array(vector).buffer).toString('base64');
}
