import { createHash } from 'node:crypto';
import { GatewayError } from '../../errors/gateway-error.js';
import type { JsonObject } from '../../providers/types.js';
import { withDeadline } from '../../utils/deadline.js';
import type { IdempotencyStore } from './store.js';

/** How long a key keeps its answer. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
/**
 * How long a pending marker holds its key: longer than a request may run, short enough that
 * a key whose instance died is usable again the same day.
 */
export const PENDING_TTL_MS = 15 * 60_000;
/** The longest key accepted, as Stripe's. */
export const MAX_IDEMPOTENCY_KEY = 255;

type Stored =
  | { state: 'pending'; fingerprint: string }
  | { state: 'done'; fingerprint: string; status: number; body: JsonObject };

export type Claim =
  | { kind: 'first' }
  | { kind: 'replay'; status: number; body: JsonObject }
  /** The store did not answer: the request runs without the key's protection. */
  | { kind: 'unavailable' };

export interface IdempotencyOptions {
  store: IdempotencyStore;
  timeoutMs: number;
  onError: (error: unknown) => void;
}

function parse(text: string): Stored | null {
  try {
    const value = JSON.parse(text) as Stored;
    if (value.state === 'pending' && typeof value.fingerprint === 'string') return value;
    if (value.state === 'done' && typeof value.body === 'object' && value.body !== null)
      return value;
  } catch {
    // Not ours: treated as a key in use by another body.
  }
  return null;
}

/** The key as stored: hashed, so any text the client chose makes a short, safe key. */
const storedKey = (key: string) => createHash('sha256').update(key).digest('base64url');

/**
 * `Idempotency-Key` on inference requests: the first request with a key runs and its answer
 * is kept for 24 hours; the same key with the same request gets that answer again, without
 * running or being accounted again; with another request, a 409. While the first still
 * runs, a 409 that says so (the client retries; a wait here would hold a connection per
 * retry). Keys are per tenant. A failed first request frees its key.
 */
export class Idempotency {
  constructor(private readonly options: IdempotencyOptions) {}

  /** Checks the header; a bad key is the client's error. */
  static keyOf(header: string | string[] | undefined): string | null {
    if (header === undefined) return null;
    const key = Array.isArray(header) ? header.join(',') : header;
    if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY)
      throw new GatewayError('invalid_request', {
        message: `The Idempotency-Key header must be 1 to ${MAX_IDEMPOTENCY_KEY} characters.`,
        param: 'Idempotency-Key',
      });
    return key;
  }

  async claim(tenantId: string, key: string, fingerprint: string): Promise<Claim> {
    const pending = JSON.stringify({ state: 'pending', fingerprint });
    let held: string | null;
    try {
      held = await withDeadline(
        this.options.store.claim(tenantId, storedKey(key), pending, PENDING_TTL_MS),
        this.options.timeoutMs,
      );
    } catch (error) {
      this.options.onError(error);
      return { kind: 'unavailable' };
    }
    if (held === null) return { kind: 'first' };
    const stored = parse(held);
    if (stored === null || stored.fingerprint !== fingerprint)
      throw new GatewayError('idempotency_key_reused', { param: 'Idempotency-Key' });
    if (stored.state === 'pending')
      throw new GatewayError('idempotency_key_in_progress', {
        param: 'Idempotency-Key',
        headers: { 'retry-after': '1' },
      });
    return { kind: 'replay', status: stored.status, body: stored.body };
  }

  /** Keeps the first request's answer for the key's lifetime; off the response's path. */
  finish(tenantId: string, key: string, fingerprint: string, body: JsonObject): void {
    const value = JSON.stringify({ state: 'done', fingerprint, status: 200, body });
    this.quietly(this.options.store.set(tenantId, storedKey(key), value, IDEMPOTENCY_TTL_MS));
  }

  /** The first request failed: the key is free for a retry. */
  release(tenantId: string, key: string): void {
    this.quietly(this.options.store.release(tenantId, storedKey(key)));
  }

  private quietly(work: Promise<void>): void {
    withDeadline(work, Math.max(this.options.timeoutMs, 1000)).catch(this.options.onError);
  }
}
