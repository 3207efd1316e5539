import type { ModelPricing } from '../../config/load.js';
import {
  countsTokens,
  LIMIT_KIND_NAMES,
  type LimitKindName,
  limitKind,
} from '../../domain/limit-kinds.js';
import { QUOTA_METRICS, QUOTA_PERIODS } from '../../domain/quota.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { newId } from '../../utils/ids.js';
import type { EventPublisher } from '../events/publisher.js';
import type { TenantPrincipal } from '../keys/key-service.js';
import { costOf } from '../usage/cost.js';
import { formatDuration, rateLimitHeaders } from './headers.js';
import type { LimitRule } from './limit-rules.js';
import { type PeriodWindow, periodAt, toNanos } from './quota-period.js';
import type { Quota } from './quotas.js';
import type { Acquired, Crossing, LimitCheck, RateLimitStore } from './store.js';

export type FailureMode = 'open' | 'closed';

/** A tenant's rules and quotas, as the hot path reads them (cached). */
export interface TenantLimits {
  rules: LimitRule[];
  quotas: Quota[];
}

export interface RateLimiterOptions {
  store: RateLimitStore;
  limits: (tenantId: string) => Promise<TenantLimits>;
  /**
   * What a quota's subject used in a period, from the usage records (tokens, or spend in
   * nanos): where a missing counter starts again.
   */
  usedIn: (tenantId: string, quota: Quota, window: PeriodWindow) => Promise<number>;
  /** Raises quota thresholds passed and first refusals. */
  publisher: Pick<EventPublisher, 'publish'>;
  /** What happens when the store cannot answer: serve anyway, or refuse with a 503. */
  failureMode: FailureMode;
  /** How long a concurrent slot is held at most, should its request never settle. */
  leaseMs: number;
  /** Told of every store failure (log it, count it). */
  onStoreError: (error: unknown) => void;
}

/** What a request is about to use, reserved before the call. */
export interface Reservation {
  promptTokens: number;
  completionTokens: number;
}

/** What a request used; null when the call failed and used nothing. */
export interface Used {
  /** Prompt and completion tokens. */
  tokens: number;
  /** In the price table's currency. */
  cost: number;
}

/** What a request was admitted with; settle it once, when it is over. */
export interface Admission {
  /** OpenAI's `x-ratelimit-*` headers for the response. */
  headers: Record<string, string>;
  /** Replaces the reservations with what was really used and frees the concurrent slot. */
  settle(used: Used | null): Promise<void>;
}

export interface AdmitRequest {
  principal: TenantPrincipal;
  model: { name: string; pricing: ModelPricing };
  /** When the request started: the period its usage belongs to. */
  at: Date;
  reserve: () => Promise<Reservation>;
}

const ADMITTED_UNLIMITED: Admission = { headers: {}, settle: async () => {} };

/** Quota counters outlive their period by a day, so a late settlement still finds them. */
const QUOTA_MARGIN_MS = 86_400_000;

type Subject = Pick<LimitRule, 'scope' | 'subjectId'>;

function binds(subject: Subject, principal: TenantPrincipal): boolean {
  return (
    subject.scope === 'tenant' ||
    (subject.scope === 'user' && subject.subjectId === principal.userId) ||
    (subject.scope === 'key' && subject.subjectId === principal.keyId)
  );
}

interface Bound {
  check: LimitCheck;
  limit?: { rule: LimitRule; kind: LimitKindName };
  quota?: { quota: Quota; window: PeriodWindow };
}

/** Whether a rule holds a limit on tokens, for which a request's tokens must be reserved. */
const limitsTokens = (rule: LimitRule) =>
  LIMIT_KIND_NAMES.some((kind) => rule.limits[kind] !== null && countsTokens(limitKind(kind)));

/**
 * Holds each request to every limit that applies to it, in one atomic store call: requests
 * and tokens per minute and concurrent requests (per model or for all), and token quotas
 * and spend budgets per day, month or in total; at tenant, user and key level. Tokens and
 * spend are reserved up front and corrected to what was used afterwards.
 */
export class RateLimiter {
  constructor(private readonly options: RateLimiterOptions) {}

  async admit(request: AdmitRequest): Promise<Admission> {
    const { principal, model } = request;
    // Never the request id: a client may choose that one (x-request-id), and two requests
    // sharing a lease would hold one concurrent slot between them.
    const leaseId = newId('lse');
    const limits = await this.options.limits(principal.tenantId);
    const rules = limits.rules.filter(
      (rule) => (rule.model === null || rule.model === model.name) && binds(rule, principal),
    );
    const quotas = limits.quotas.filter((quota) => binds(quota, principal));
    if (rules.length === 0 && quotas.length === 0) return ADMITTED_UNLIMITED;
    const needsTokens = quotas.length > 0 || rules.some(limitsTokens);
    const reserved = needsTokens
      ? await request.reserve()
      : { promptTokens: 0, completionTokens: 0 };
    const reservedTokens = reserved.promptTokens + reserved.completionTokens;
    const reservedNanos = toNanos(
      costOf(
        { ...reserved, cachedTokens: 0, totalTokens: reservedTokens, estimated: true },
        model.pricing,
      ),
    );
    const bound: Bound[] = [
      ...rules.flatMap((rule) => this.ruleChecks(principal, rule, reservedTokens)),
      ...quotas.map((quota) =>
        this.quotaCheck(
          principal,
          quota,
          request.at,
          quota.metric === 'cost' ? reservedNanos : reservedTokens,
        ),
      ),
    ];
    let acquired: Acquired;
    try {
      acquired = await this.acquire(principal.tenantId, bound, leaseId);
    } catch (error) {
      this.options.onStoreError(error);
      if (this.options.failureMode === 'open') return ADMITTED_UNLIMITED;
      throw new GatewayError('service_unavailable', {
        message: 'Rate limits cannot be checked right now; please retry shortly.',
      });
    }
    if ('unseeded' in acquired) throw new Error('quota counters stayed unseeded');
    const headers = rateLimitHeaders(acquired.states);
    if (!acquired.ok) {
      const item = bound.find((entry) => entry.check.key === acquired.refused.key);
      if (item?.quota) {
        if (acquired.firstRefusal) this.emit(principal, item.quota);
        throw quotaRefusal(item.quota.quota, headers);
      }
      throw refusal(acquired, item?.limit, model.name, headers);
    }
    const { bucket } = acquired;
    return {
      headers,
      settle: async (used) => {
        const usedNanos = used === null ? 0 : toNanos(used.cost);
        try {
          const crossings = await this.options.store.settle(
            bucket,
            {
              adjustments: bound
                .filter((item) => item.check.kind === 'tokens')
                .map(({ check }) => ({
                  key: check.key,
                  delta: (used?.tokens ?? 0) - check.amount,
                })),
              leases: bound
                .filter((item) => item.check.kind === 'concurrent')
                .map((item) => item.check.key),
              quotas: bound.flatMap(({ check, quota }) =>
                quota === undefined
                  ? []
                  : [
                      {
                        key: check.key,
                        delta:
                          (quota.quota.metric === 'cost' ? usedNanos : (used?.tokens ?? 0)) -
                          check.amount,
                        limit: check.limit,
                        thresholds: quota.quota.thresholds,
                      },
                    ],
              ),
            },
            leaseId,
          );
          this.announce(principal, bound, crossings);
        } catch (error) {
          // The reservation stands and the lease runs out by itself: safe, if strict.
          this.options.onStoreError(error);
        }
      },
    };
  }

  /** One store call; a second, with seeds from the usage records, for missing quota counters. */
  private async acquire(tenantId: string, bound: Bound[], leaseId: string): Promise<Acquired> {
    const checks = bound.map((item) => item.check);
    const first = await this.options.store.acquire(checks, leaseId, this.options.leaseMs);
    if (!('unseeded' in first)) return first;
    const missing = new Set(first.unseeded.map((check) => check.key));
    const seeded = await Promise.all(
      bound.map(async ({ check, quota }) =>
        quota !== undefined && missing.has(check.key)
          ? { ...check, seed: await this.options.usedIn(tenantId, quota.quota, quota.window) }
          : check,
      ),
    );
    return this.options.store.acquire(seeded, leaseId, this.options.leaseMs);
  }

  private ruleChecks(principal: TenantPrincipal, rule: LimitRule, reservedTokens: number): Bound[] {
    return LIMIT_KIND_NAMES.flatMap((kind) => {
      const limit = rule.limits[kind];
      if (limit === null) return [];
      const spec = limitKind(kind);
      const amount = countsTokens(spec) ? reservedTokens : 1;
      // One hash tag per tenant: every key of one call lands in one Redis Cluster slot.
      const key = `llmb:rl:{${principal.tenantId}}:${rule.id}:${spec.counterKey}`;
      return [{ check: { key, kind: spec.check, limit, amount }, limit: { rule, kind } }];
    });
  }

  private quotaCheck(principal: TenantPrincipal, quota: Quota, at: Date, amount: number): Bound {
    const window = periodAt(quota.period, at);
    const check: LimitCheck = {
      key: `llmb:q:{${principal.tenantId}}:${quota.id}:${window.label}`,
      kind: 'quota',
      limit: quota.metric === 'cost' ? toNanos(quota.amount) : quota.amount,
      amount,
      thresholds: quota.thresholds,
      ...(window.end && { expiresAt: window.end.getTime() + QUOTA_MARGIN_MS }),
    };
    return { check, quota: { quota, window } };
  }

  private announce(principal: TenantPrincipal, bound: Bound[], crossings: Crossing[]): void {
    for (const crossing of crossings) {
      const quota = bound.find((item) => item.check.key === crossing.key)?.quota;
      if (quota === undefined) continue;
      const used = quota.quota.metric === 'cost' ? crossing.used / 1e9 : crossing.used;
      this.emit(principal, quota, { threshold: crossing.threshold, used });
    }
  }

  private emit(
    principal: TenantPrincipal,
    { quota, window }: { quota: Quota; window: PeriodWindow },
    crossing?: { threshold: number; used: number },
  ): void {
    const data = {
      quota_id: quota.id,
      scope: quota.scope,
      subject_id: quota.subjectId,
      metric: quota.metric,
      period: quota.period,
      period_start: window.start?.toISOString() ?? null,
      amount: quota.amount,
    };
    const { publisher } = this.options;
    if (crossing === undefined) publisher.publish('quota.exhausted', principal.tenantId, data);
    else publisher.publish('quota.threshold_reached', principal.tenantId, { ...data, ...crossing });
  }
}

const CONCURRENT_RETRY_MS = 1000;

/** A 429 worded as OpenAI's, with the wait in `retry-after` and `retry-after-ms`. */
function refusal(
  acquired: Extract<Acquired, { ok: false; refused: LimitCheck }>,
  limit: Bound['limit'],
  model: string,
  headers: Record<string, string>,
): GatewayError {
  const { refused } = acquired;
  const kind =
    limit?.kind ?? LIMIT_KIND_NAMES.find((name) => limitKind(name).check === refused.kind);
  const spec = limitKind(kind ?? 'requests_per_minute');
  // A slot frees when a running request ends, which no counter can foresee; the lease's end
  // is only the worst case, so a client is told to try again soon.
  const retryAfterMs =
    spec.counter.type === 'concurrent'
      ? Math.min(acquired.retryAfterMs, CONCURRENT_RETRY_MS)
      : acquired.retryAfterMs;
  const scope = limit?.rule.scope;
  const on = scope === 'tenant' ? 'this tenant' : `this ${scope ?? 'key'}`;
  const state = acquired.states.find((item) => item.key === refused.key);
  const used = state === undefined ? refused.limit : refused.limit - state.remaining;
  return new GatewayError('rate_limit_exceeded', {
    type: spec.errorType,
    message:
      `Rate limit reached for ${model} on ${on} on ${spec.per}: Limit ${refused.limit}, ` +
      `Used ${used}, Requested ${refused.amount}. Please try again in ${formatDuration(retryAfterMs)}.`,
    headers: {
      ...headers,
      'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
      'retry-after-ms': String(Math.max(1, Math.round(retryAfterMs))),
    },
  });
}

/**
 * OpenAI's 429 `insufficient_quota`. Retrying cannot help before the period turns (or an
 * admin raises the quota), so the SDKs are told not to (`x-should-retry: false`).
 */
function quotaRefusal(quota: Quota, headers: Record<string, string>): GatewayError {
  const { noun, unit } = QUOTA_METRICS[quota.metric];
  const on = quota.scope === 'tenant' ? 'this tenant' : `this ${quota.scope}`;
  return new GatewayError('insufficient_quota', {
    message: `You exceeded ${QUOTA_PERIODS[quota.period].refusal} ${noun} of ${quota.amount} ${unit} on ${on}. Ask an admin of your organization to raise it, or wait for the next period.`,
    headers: { ...headers, 'x-should-retry': 'false' },
  });
}
