import { GatewayError } from '../../errors/gateway-error.js';
import { newId } from '../../utils/ids.js';
import type { TenantPrincipal } from '../keys/key-service.js';
import { formatDuration, rateLimitHeaders } from './headers.js';
import type { LimitRule } from './limit-rules.js';
import type { Acquired, LimitCheck, LimitKind, RateLimitStore } from './store.js';

export type FailureMode = 'open' | 'closed';

export interface RateLimiterOptions {
  store: RateLimitStore;
  /** The tenant's rules, cached. */
  rules: (tenantId: string) => Promise<LimitRule[]>;
  /** What happens when the store cannot answer: serve anyway, or refuse with a 503. */
  failureMode: FailureMode;
  /** How long a concurrent slot is held at most, should its request never settle. */
  leaseMs: number;
  /** Told of every store failure (log it, count it). */
  onStoreError: (error: unknown) => void;
}

/** What a request was admitted with; settle it once, when it is over. */
export interface Admission {
  /** OpenAI's `x-ratelimit-*` headers for the response. */
  headers: Record<string, string>;
  /**
   * Replaces the token reservation with the tokens really used (null: the call failed and
   * used none) and frees the concurrent slot.
   */
  settle(usedTokens: number | null): Promise<void>;
}

const ADMITTED_UNLIMITED: Admission = { headers: {}, settle: async () => {} };

const FIELDS: [keyof LimitRule, LimitKind][] = [
  ['requestsPerMinute', 'requests'],
  ['tokensPerMinute', 'tokens'],
  ['maxConcurrentRequests', 'concurrent'],
];

/** The rules that bind this key on this model: the tenant's, its user's and its own. */
function applicable(rules: LimitRule[], principal: TenantPrincipal, model: string): LimitRule[] {
  return rules.filter(
    (rule) =>
      (rule.model === null || rule.model === model) &&
      (rule.scope === 'tenant' ||
        (rule.scope === 'user' && rule.subjectId === principal.userId) ||
        (rule.scope === 'key' && rule.subjectId === principal.keyId)),
  );
}

interface Bound {
  check: LimitCheck;
  rule: LimitRule;
}

/**
 * Holds each request to every rate limit that applies to it, in one atomic store call:
 * requests and tokens per minute (tokens reserved up front, corrected afterwards) and
 * concurrent requests, at tenant, user and key level, per model or for all.
 */
export class RateLimiter {
  constructor(private readonly options: RateLimiterOptions) {}

  async admit(
    principal: TenantPrincipal,
    model: string,
    reserveTokens: () => Promise<number>,
  ): Promise<Admission> {
    // Never the request id: a client may choose that one (x-request-id), and two requests
    // sharing a lease would hold one concurrent slot between them.
    const leaseId = newId('lse');
    const rules = applicable(await this.options.rules(principal.tenantId), principal, model);
    if (rules.length === 0) return ADMITTED_UNLIMITED;
    const needsTokens = rules.some((rule) => rule.tokensPerMinute !== null);
    const reserved = needsTokens ? await reserveTokens() : 0;
    const bound: Bound[] = rules.flatMap((rule) =>
      FIELDS.flatMap(([field, kind]) => {
        const limit = rule[field] as number | null;
        if (limit === null) return [];
        const amount = kind === 'tokens' ? reserved : 1;
        // One hash tag per tenant: every key of one call lands in one Redis Cluster slot.
        const key = `llmb:rl:{${principal.tenantId}}:${rule.id}:${kind}`;
        return [{ check: { key, kind, limit, amount }, rule }];
      }),
    );
    let acquired: Acquired;
    try {
      acquired = await this.options.store.acquire(
        bound.map((item) => item.check),
        leaseId,
        this.options.leaseMs,
      );
    } catch (error) {
      this.options.onStoreError(error);
      if (this.options.failureMode === 'open') return ADMITTED_UNLIMITED;
      throw new GatewayError('service_unavailable', {
        message: 'Rate limits cannot be checked right now; please retry shortly.',
      });
    }
    const headers = rateLimitHeaders(acquired.states);
    if (!acquired.ok) throw refusal(acquired, bound, model, headers);
    const { bucket } = acquired;
    return {
      headers,
      settle: async (usedTokens) => {
        const checks = bound.map((item) => item.check);
        try {
          await this.options.store.settle(
            bucket,
            {
              adjustments: checks
                .filter((check) => check.kind === 'tokens')
                .map((check) => ({ key: check.key, delta: (usedTokens ?? 0) - check.amount })),
              leases: checks.filter((check) => check.kind === 'concurrent').map((c) => c.key),
            },
            leaseId,
          );
        } catch (error) {
          // The reservation stands and the lease runs out by itself: safe, if strict.
          this.options.onStoreError(error);
        }
      },
    };
  }
}

const CONCURRENT_RETRY_MS = 1000;

const PER: Record<LimitKind, string> = {
  requests: 'requests per min (RPM)',
  tokens: 'tokens per min (TPM)',
  concurrent: 'concurrent requests',
};

/** A 429 worded as OpenAI's, with the wait in `retry-after` and `retry-after-ms`. */
function refusal(
  acquired: Extract<Acquired, { ok: false }>,
  bound: Bound[],
  model: string,
  headers: Record<string, string>,
): GatewayError {
  const { refused } = acquired;
  // A slot frees when a running request ends, which no counter can foresee; the lease's end
  // is only the worst case, so a client is told to try again soon.
  const retryAfterMs =
    refused.kind === 'concurrent'
      ? Math.min(acquired.retryAfterMs, CONCURRENT_RETRY_MS)
      : acquired.retryAfterMs;
  const rule = bound.find((item) => item.check.key === refused.key)?.rule;
  const on = rule?.scope === 'tenant' ? 'this tenant' : `this ${rule?.scope ?? 'key'}`;
  const state = acquired.states.find((item) => item.key === refused.key);
  const used = state === undefined ? refused.limit : refused.limit - state.remaining;
  return new GatewayError('rate_limit_exceeded', {
    type: refused.kind === 'tokens' ? 'tokens' : 'requests',
    message:
      `Rate limit reached for ${model} on ${on} on ${PER[refused.kind]}: Limit ${refused.limit}, ` +
      `Used ${used}, Requested ${refused.amount}. Please try again in ${formatDuration(retryAfterMs)}.`,
    headers: {
      ...headers,
      'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
      'retry-after-ms': String(Math.max(1, Math.round(retryAfterMs))),
    },
  });
}
