import { UpstreamError } from '../../providers/errors.js';

/**
 * What a failed attempt means for the next one:
 * - `retry`: the upstream is struggling (5xx, 429, timeout, unreachable): try again, here or
 *   elsewhere;
 * - `failover`: this deployment is misconfigured (401, 403, 404): try another, not this one;
 * - `context`: the request is too long for the model: only a larger model can help;
 * - `final`: the request itself is wrong; every deployment would say the same.
 */
export type FailureKind = 'retry' | 'failover' | 'context' | 'final';

export interface Failure {
  kind: FailureKind;
  /** Whether it says the deployment is unhealthy (counts towards opening its circuit). */
  unhealthy: boolean;
  /** The upstream's `retry-after`, in milliseconds, when it sent one. */
  retryAfterMs: number | null;
}

const CONTEXT_MESSAGE = /context[ _]length|context window|prompt is too long|too many tokens/i;

function isContextError(body: unknown): boolean {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (error === undefined || error === null) return false;
  if (error.code === 'context_length_exceeded') return true;
  return typeof error.message === 'string' && CONTEXT_MESSAGE.test(error.message);
}

/** `retry-after` as seconds or an HTTP date, in milliseconds from now. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const seconds = Number(value);
  if (value.trim() !== '' && Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

export function classifyFailure(error: unknown, now: number): Failure {
  if (!(error instanceof UpstreamError))
    return { kind: 'final', unhealthy: false, retryAfterMs: null };
  const { failure } = error;
  if (failure.kind !== 'http') return { kind: 'retry', unhealthy: true, retryAfterMs: null };
  const { status } = failure;
  if (status === 429) {
    return {
      kind: 'retry',
      unhealthy: false,
      retryAfterMs: parseRetryAfter(failure.retryAfter, now),
    };
  }
  if (status === 408 || status >= 500) {
    return {
      kind: 'retry',
      unhealthy: true,
      retryAfterMs: parseRetryAfter(failure.retryAfter, now),
    };
  }
  if (status === 401 || status === 403 || status === 404)
    return { kind: 'failover', unhealthy: true, retryAfterMs: null };
  if ((status === 400 || status === 413 || status === 422) && isContextError(failure.body))
    return { kind: 'context', unhealthy: false, retryAfterMs: null };
  return { kind: 'final', unhealthy: false, retryAfterMs: null };
}
