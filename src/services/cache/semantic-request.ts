import { createHash } from 'node:crypto';
import type { JsonObject } from '../../providers/types.js';
import { canonicalJson, NOT_IN_KEY } from './request-key.js';

/** Why a request is not looked up in the semantic cache. */
export type SemanticSkipReason =
  /** Not a chat completion, or it asks for several answers (`n` > 1). */
  | 'not_chat'
  /** Tools or functions: an answer may be a call whose arguments depend on exact words. */
  | 'tools'
  /** Images, audio, files, tool results or tool calls: no text that stands for the request. */
  | 'not_text'
  /** Longer than an embedding model takes in one input. */
  | 'too_long';

/** The most characters embedded: a long conversation is rarely repeated, and costs most. */
export const MAX_EMBEDDED_CHARS = 32_000;

const TEXT_ROLES = new Set(['system', 'developer', 'user', 'assistant']);
/** Request fields that make an answer a call or a tool's input, never a reusable text. */
const TOOL_FIELDS = ['tools', 'functions', 'tool_choice', 'function_call', 'parallel_tool_calls'];

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

/** A message's content as text, when it is only text (a string, or text parts only). */
function textOf(content: unknown): string | null {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return null;
  const parts: string[] = [];
  for (const part of content) {
    const { type, text } = (part ?? {}) as { type?: unknown; text?: unknown };
    if (type !== 'text' || typeof text !== 'string') return null;
    parts.push(text);
  }
  return parts.join('\n');
}

/**
 * The text embedded for a chat request: every message in order as `role: text`, one per
 * line, so who said what counts as much as the words. Null with the reason when the
 * request is not one the semantic cache serves.
 */
export function semanticText(body: JsonObject): { text: string } | { skip: SemanticSkipReason } {
  if (!Array.isArray(body.messages) || body.messages.length === 0) return { skip: 'not_chat' };
  if (typeof body.n === 'number' && body.n !== 1) return { skip: 'not_chat' };
  if (TOOL_FIELDS.some((field) => body[field] !== undefined && body[field] !== null))
    return { skip: 'tools' };
  const lines: string[] = [];
  for (const message of body.messages) {
    const { role, content, tool_calls, function_call } = (message ?? {}) as Record<string, unknown>;
    if (typeof role !== 'string' || !TEXT_ROLES.has(role)) return { skip: 'not_text' };
    if (tool_calls != null || function_call != null) return { skip: 'not_text' };
    const text = textOf(content);
    if (text === null) return { skip: 'not_text' };
    lines.push(`${role}: ${text}`);
  }
  const text = lines.join('\n');
  return text.length > MAX_EMBEDDED_CHARS ? { skip: 'too_long' } : { text };
}

/** SHA-256 of the embedded text: an exact repeat is found by it without an embedding. */
export function textDigest(text: string): string {
  return sha256(text);
}

/**
 * SHA-256 of everything but the conversation that can change the answer (sampling fields,
 * `max_tokens`, `response_format`, `seed`...; the same fields as the exact cache's key):
 * these must be equal for a stored answer to serve, only the conversation may differ.
 */
export function paramsDigest(body: JsonObject): string {
  const rest: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(body))
    if (field !== 'messages' && field !== 'model' && !NOT_IN_KEY.has(field)) rest[field] = value;
  return sha256(canonicalJson(rest));
}
