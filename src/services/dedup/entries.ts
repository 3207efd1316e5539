import { GatewayError } from '../../errors/gateway-error.js';
import { type ErrorCode, errorRegistry } from '../../errors/registry.js';
import type { JsonObject } from '../../providers/types.js';
import type { Usage } from '../inference/usage.js';

/** Which model and deployment answered, by name: what crosses instances. */
export interface ServedName {
  model: string;
  deployment: string;
  attempts: number;
  /** The leader's call went with the tenant's own provider key; absent: it did not. */
  byok?: boolean;
}

/** A failure as every subscriber of a flight sees it, whichever instance reads it. */
export interface SharedError {
  code: ErrorCode;
  message: string;
  status: number;
  type: string;
  param: string | null;
  wireCode: string | null;
  headers: Record<string, string>;
  /**
   * Whether another attempt may succeed: a failure of the upstream or of the gateway, not a
   * refusal of the request itself (400, 409, 413, 422), which would only repeat.
   */
  retryable: boolean;
}

/**
 * One step of a flight, in the order its subscribers read it: a stream is `head`, `chunk`s,
 * then `end` or `error`; a whole response is `result` or `error`. The last three end it.
 */
export type FlightEntry =
  | { type: 'head'; served: ServedName }
  | { type: 'chunk'; data: string }
  | { type: 'end'; usage: Usage | null }
  | { type: 'result'; served: ServedName; body: JsonObject; usage: Usage }
  | { type: 'error'; error: SharedError; usage: Usage | null };

export const isFinal = (entry: FlightEntry): boolean =>
  entry.type === 'end' || entry.type === 'result' || entry.type === 'error';

/** Client errors that another attempt would only repeat. */
const NOT_RETRYABLE = new Set([400, 404, 409, 413, 422]);

export function shareError(error: GatewayError): SharedError {
  return {
    code: error.code,
    message: error.message,
    status: error.status,
    type: error.type,
    param: error.param,
    wireCode: error.wireCode,
    headers: error.headers,
    retryable: !NOT_RETRYABLE.has(error.status),
  };
}

export function toError(shared: SharedError): GatewayError {
  // An entry written by an instance with another registry falls back to a plain upstream error.
  const code: ErrorCode = shared.code in errorRegistry ? shared.code : 'upstream_error';
  return new GatewayError(code, {
    message: shared.message,
    status: shared.status,
    type: shared.type,
    param: shared.param,
    wireCode: shared.wireCode,
    headers: { ...shared.headers },
  });
}

/** An entry as stored in a Redis Stream entry's fields. */
export function encodeEntry(entry: FlightEntry): [string, string] {
  return [entry.type, entry.type === 'chunk' ? entry.data : JSON.stringify(entry)];
}

const TYPES = new Set(['head', 'chunk', 'end', 'result', 'error']);

/** The entry back from its fields; null for anything this version did not write. */
export function decodeEntry(type: string, data: string): FlightEntry | null {
  if (!TYPES.has(type)) return null;
  if (type === 'chunk') return { type: 'chunk', data };
  try {
    const entry = JSON.parse(data) as FlightEntry;
    return entry !== null && typeof entry === 'object' && entry.type === type ? entry : null;
  } catch {
    return null;
  }
}
