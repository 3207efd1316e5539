import type { Usage } from './usage.js';

/** Counts the tokens of a text, special-token strings counted as the text they are. */
export interface TokenCounter {
  count(text: string): number;
}

let encoder: Promise<TokenCounter> | undefined;

/**
 * Words whose merges are remembered; the library's default (100,000) lets a stream of
 * random text grow the cache by tens of megabytes, a few thousand serve real traffic.
 */
const MERGE_CACHE_SIZE = 5_000;

/**
 * The o200k_base encoding (GPT-4o and later) as the estimate for any model. Its ranks take
 * a moment to load, so they load on first use (or when warmed at start), never per call.
 */
export function loadEncoder(): Promise<TokenCounter> {
  encoder ??= import('gpt-tokenizer/encoding/o200k_base').then((o200k) => {
    o200k.setMergeCacheSize(MERGE_CACHE_SIZE);
    const options = { allowedSpecial: 'all' as const };
    return { count: (text: string) => o200k.countTokens(text, options) };
  });
  return encoder;
}

// OpenAI's published accounting: a few tokens of framing per message and for the reply.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_FOR_REPLY = 3;
const TOKENS_PER_IMAGE = 85;

// BPE cost grows with the square of a word's length (a 32 kB run of one letter takes
// minutes), so long runs are cut into short words and long texts are sampled: an estimate
// must never stall the event loop, whatever the upstream or client sends.
const MAX_RUN = 24;
const LONG_RUN = new RegExp(`\\S{${MAX_RUN + 1},}`, 'g');
const SAMPLE_CHARS = 32 * 1024;

function* segments(text: string): Generator<string> {
  let last = 0;
  for (const match of text.matchAll(LONG_RUN)) {
    if (match.index > last) yield text.slice(last, match.index);
    for (let i = 0; i < match[0].length; i += MAX_RUN) yield match[0].slice(i, i + MAX_RUN);
    last = match.index + match[0].length;
  }
  if (last < text.length) yield text.slice(last);
}

function textTokens(enc: TokenCounter, text: string): number {
  const sample = text.length > SAMPLE_CHARS ? text.slice(0, SAMPLE_CHARS) : text;
  let total = 0;
  for (const segment of segments(sample)) total += enc.count(segment);
  return sample === text ? total : Math.ceil((total * text.length) / sample.length);
}

/** Counts the tokens of one string. */
type Count = (text: string) => number;

const counted =
  (enc: TokenCounter): Count =>
  (text) =>
    textTokens(enc, text);

/**
 * An upper bound on the tokens of a text, without a tokenizer: its UTF-8 length. o200k_base
 * (like cl100k_base and the other byte-level BPE encodings) covers a text with tokens that
 * each stand for at least one of its bytes, so n bytes never take more than n tokens; a
 * special-token string counted as one token is many bytes. About four times the real count
 * for English, corrected to the real usage when the request ends.
 */
const bytes: Count = (text) => Buffer.byteLength(text, 'utf8');

/** Tokens of every string inside a value (content parts, tool call arguments, names...). */
function tokensIn(count: Count, value: unknown): number {
  if (typeof value === 'string') return count(value);
  let total = 0;
  if (Array.isArray(value)) {
    for (const item of value) total += tokensIn(count, item);
  } else if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (record.type === 'image_url') return TOKENS_PER_IMAGE;
    for (const item of Object.values(record)) total += tokensIn(count, item);
  }
  return total;
}

function chatPrompt(count: Count, body: Record<string, unknown>): number {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  let total = TOKENS_FOR_REPLY;
  for (const message of messages) total += TOKENS_PER_MESSAGE + tokensIn(count, message);
  if (body.tools !== undefined) total += tokensIn(count, JSON.stringify(body.tools));
  return total;
}

export async function estimateChatPrompt(body: Record<string, unknown>): Promise<number> {
  return chatPrompt(counted(await loadEncoder()), body);
}

/** The prompt tokens of a request to `capability`: its messages, prompt or input. */
export function estimatePrompt(
  capability: 'chat' | 'completions' | 'embeddings',
  body: Record<string, unknown>,
): Promise<number> {
  if (capability === 'chat') return estimateChatPrompt(body);
  return estimateTokens(capability === 'completions' ? body.prompt : body.input);
}

export async function estimateTokens(value: unknown): Promise<number> {
  return tokensIn(counted(await loadEncoder()), value);
}

/**
 * At least the prompt tokens of a request, counted without the tokenizer (see `bytes`): what
 * reservations hold, so admitting a request never loads or runs it.
 */
export function promptTokensBound(
  capability: 'chat' | 'completions' | 'embeddings',
  body: Record<string, unknown>,
): number {
  if (capability === 'chat') return chatPrompt(bytes, body);
  return tokensIn(bytes, capability === 'completions' ? body.prompt : body.input);
}

export function estimatedUsage(promptTokens: number, completionTokens: number): Usage {
  return {
    promptTokens,
    completionTokens,
    cachedTokens: 0,
    totalTokens: promptTokens + completionTokens,
    estimated: true,
  };
}

/** The generated text of a message or stream delta: content, refusal and tool calls. */
export function messageText(message: unknown): string {
  if (message === null || typeof message !== 'object') return '';
  const { content, refusal, tool_calls } = message as Record<string, unknown>;
  let text = typeof content === 'string' ? content : '';
  if (typeof refusal === 'string') text += refusal;
  for (const call of Array.isArray(tool_calls) ? tool_calls : []) {
    const fn = (call as { function?: { name?: unknown; arguments?: unknown } }).function;
    if (typeof fn?.name === 'string') text += fn.name;
    if (typeof fn?.arguments === 'string') text += fn.arguments;
  }
  return text;
}
