import { createHash } from 'node:crypto';
import type { JsonObject } from '../../providers/types.js';
import type { Capability } from '../inference/model-catalog.js';

/**
 * Fields that cannot change what the model answers, so they do not split the key: how the
 * answer is delivered (`stream`, `stream_options`: the cache serves either shape), and
 * labels the upstream only records (`user`, `metadata`, `store`, `service_tier`).
 * Everything else (messages, tools, every sampling field, `seed`, `response_format`...)
 * is part of the key, unknown fields included: a field we do not know may change the answer.
 */
export const NOT_IN_KEY = new Set([
  'stream',
  'stream_options',
  'user',
  'metadata',
  'store',
  'service_tier',
]);

/** Separates the parts of the hashed text; it cannot occur inside canonical JSON. */
const SEPARATOR = '\u0000';

/**
 * JSON with object keys sorted at every depth, so key order and whitespace in the client's
 * body never make two keys for one request. Arrays keep their order: it is meaning.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, field]) => field !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, field]) => `${JSON.stringify(key)}:${canonicalJson(field)}`).join(',')}}`;
}

export interface KeyedRequest {
  tenantId: string;
  capability: Capability;
  /** The model after routing aliases: two names for one model share entries. */
  model: string;
  body: JsonObject;
}

/**
 * The key of one request's answer: a SHA-256 over the tenant, the capability, the resolved
 * model and the canonical body. The tenant is hashed in, so byte-identical requests of two
 * tenants never share an entry even if a store forgot its tenant prefix.
 */
export function requestKey(request: KeyedRequest): string {
  const body: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(request.body)) {
    if (!NOT_IN_KEY.has(field) && field !== 'model') body[field] = value;
  }
  return createHash('sha256')
    .update(request.tenantId)
    .update(SEPARATOR)
    .update(request.capability)
    .update(SEPARATOR)
    .update(request.model)
    .update(SEPARATOR)
    .update(canonicalJson(body))
    .digest('base64url');
}

/**
 * Whether the same request may get the same answer again. OpenAI samples at temperature 1
 * when none is given, and `n` > 1 asks for several different answers: such requests get a
 * stored answer only when the tenant or model allows it (`allowNondeterministic`), since the
 * caller may be counting on variety. Embeddings are always deterministic.
 */
export function isDeterministic(capability: Capability, body: JsonObject): boolean {
  if (capability === 'embeddings') return true;
  const n = body.n;
  if (n !== undefined && n !== null && n !== 1) return false;
  return body.temperature === 0;
}
