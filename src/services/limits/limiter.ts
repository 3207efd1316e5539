import type { ModelPricing } from '../../config/load.js';
import type { PricePlan } from '../../domain/billing.js';
import {
  countsTokens,
  LIMIT_KIND_NAMES,
  type LimitKindName,
  limitKind,
} from '../../domain/limit-kinds.js';
import { QUOTA_METRICS, QUOTA_PERIODS } from '../../domain/quota.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { planAt } from '../billing/charge.js';
import type { EventPublisher } from '../events/publisher.js';
import type { TenantPrincipal } from '../keys/key-service.js';
import { costOf } from '../usage/cost.js';
import type { Admissions, Check, Decision, Ticket } from './admission.js';
import { formatDuration, rateLimitHeaders } from './headers.js';
import type { CounterSpec, Crossing } from './ledger.js';
import type { LimitRule } from './limit-rules.js';
import type { PoolState } from './pool.js';
import { type Counts, type Pricing, pricingOf } from './quota-charge.js';
import { type PeriodWindow, periodAt, toNanos } from './quota-period.js';
import type { Quota } from './quotas.js';

export type FailureMode = 'open' | 'closed';

/** A tenant's rules and quotas, as the hot path reads them (cached). */
export interface TenantLimits {
  rules: LimitRule[];
  quotas: Quota[];
  /** The price plan's versions, when a quota counts charges; absent or empty: no plan. */
  plans?: readonly PricePlan[];
}

export interface RateLimiterOptions {
  admissions: Admissions;
  limits: (tenantId: string) => Promise<TenantLimits>;
  /**
   * What a quota's subject used in a period, from the usage records (tokens, or spend in
   * nanos): where a missing counter starts again.
   */
  usedIn: (tenantId: string, quota: Quota, window: PeriodWindow) => Promise<number>;
  /** Raises quota thresholds passed and first refusals. */
  publisher: Pick<EventPublisher, 'publish'>;
  /** What happens when the ledger cannot answer: serve anyway, or refuse with a 503. */
  failureMode: FailureMode;
  /** Told of every request decided without the ledger (log it, count it). */
  onUnchecked: (error: unknown) => void;
  /** Told of each refusal and the kind of limit that refused (for the metrics). */
  onRefused?: (tenantId: string, kind: string) => void;
  /**
   * Told of how full each limit a decision read is, from the counters it read anyway (for
   * the metrics): nothing more is asked of the ledger.
   */
  onUse?: (tenantId: string, uses: LimitUse[]) => void;
}

/** One limit's use as a fraction of it: 1 is full. */
export interface LimitUse {
  /** A limit kind's name, or a quota's: `tokens_per_day`, `budget_usd_per_month`, `tokens_total`. */
  kind: string;
  ratio: number;
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
  /** How the tokens split, for a charge at the plan's rates; absent: all prompt tokens. */
  usage?: { promptTokens: number; completionTokens: number; cachedTokens: number };
  /** Sent with the tenant's own provider key: charged the plan's BYOK fee. */
  byok?: boolean;
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
  /** A cheap upper bound of what the request may use (no tokenizer). */
  reserve: () => Promise<Reservation>;
  /**
   * The exact count, asked for only when the bound was refused: a bound can be several times
   * the real prompt, and a request that fits must not be refused for our cheap arithmetic.
   */
  reserveExactly?: () => Promise<Reservation>;
  /**
   * Answered from the response cache: held to request and concurrency limits only, since it
   * spends no tokens upstream; token limits, quotas and budgets do not see it.
   */
  cacheHit?: boolean;
}

const ADMITTED_UNLIMITED: Admission = { headers: {}, settle: async () => {} };

/** Quota counters outlive their period by a day, so a late settlement still finds them. */
const QUOTA_MARGIN_MS = 86_400_000;

/** Quotas whose counters were seen lately, by counter key: for their threshold events. */
const MAX_KNOWN_QUOTAS = 50_000;

type Subject = Pick<LimitRule, 'scope' | 'subjectId'>;

function binds(subject: Subject, principal: TenantPrincipal): boolean {
  return (
    subject.scope === 'tenant' ||
    (subject.scope === 'user' && subject.subjectId === principal.userId) ||
    (subject.scope === 'key' && subject.subjectId === principal.keyId)
  );
}

/** A check, and what it is for: a rule's limit of one kind, or a quota in one period. */
interface Bound {
  check: Check;
  limit?: { rule: LimitRule; kind: LimitKindName };
  quota?: QuotaInPeriod;
}

/** Whether a check holds tokens or spend, which a bound of the request's tokens may overstate. */
const holdsTokens = (item: Bound | undefined): boolean =>
  item?.quota !== undefined ||
  (item?.limit !== undefined && countsTokens(limitKind(item.limit.kind)));

/** Whether a rule holds a limit on tokens, for which a request's tokens must be reserved. */
const limitsTokens = (rule: LimitRule) =>
  LIMIT_KIND_NAMES.some((kind) => rule.limits[kind] !== null && countsTokens(limitKind(kind)));

/** The header set a check feeds (quotas feed none). */
const familyOf = (bound: Bound) =>
  bound.limit === undefined ? null : limitKind(bound.limit.kind).headers;

interface QuotaInPeriod {
  tenantId: string;
  quota: Quota;
  window: PeriodWindow;
  /** A charge budget's currency, its plan's; none without a plan. */
  currency?: string | undefined;
}

/**
 * Holds each request to every limit that applies to it: requests and tokens per minute and
 * concurrent requests (per model or for all), and token quotas and spend budgets per day,
 * month or in total; at tenant, user and key level. Tokens and spend are reserved up front
 * and corrected to what was used afterwards. The counters live in the ledger; admissions
 * take from what this instance holds of them (admission.ts).
 */
export class RateLimiter {
  private readonly quotas = new Map<string, QuotaInPeriod>();

  constructor(private readonly options: RateLimiterOptions) {}

  async admit(request: AdmitRequest): Promise<Admission> {
    const { principal, model } = request;
    const limits = await this.options.limits(principal.tenantId);
    const rules = limits.rules.filter(
      (rule) => (rule.model === null || rule.model === model.name) && binds(rule, principal),
    );
    const quotas = request.cacheHit ? [] : limits.quotas.filter((q) => binds(q, principal));
    if (rules.length === 0 && quotas.length === 0) return ADMITTED_UNLIMITED;
    const needsTokens = !request.cacheHit && (quotas.length > 0 || rules.some(limitsTokens));
    // The version in effect at the request's time, as the usage worker charges its record.
    const plan = planAt(limits.plans ?? [], request.at);
    const charged = pricingOf(model.name, plan);
    const boundFor = (reserved: Reservation): Bound[] => {
      const tokens = reserved.promptTokens + reserved.completionTokens;
      const usage = { ...reserved, cachedTokens: 0, totalTokens: tokens, estimated: true };
      const cost = costOf(usage, model.pricing);
      const counts: Counts = {
        tokens,
        cost: toNanos(cost),
        charge: quotas.some((q) => q.metric === 'charge') ? charged({ tokens, cost, usage }) : 0,
      };
      return [
        ...rules.flatMap((rule) => ruleChecks(principal, rule, tokens, request.cacheHit === true)),
        ...quotas.map((quota) =>
          this.quotaCheck(principal, quota, request.at, counts[quota.metric], plan),
        ),
      ];
    };
    const none = { promptTokens: 0, completionTokens: 0 };
    let bound = boundFor(needsTokens ? await request.reserve() : none);
    if (bound.length === 0) return ADMITTED_UNLIMITED;
    let decision = await this.decide(principal.tenantId, bound);
    const first = decision;
    if (first.kind === 'refused' && request.reserveExactly && holdsTokens(bound[first.check])) {
      bound = boundFor(await request.reserveExactly());
      decision = await this.decide(principal.tenantId, bound);
      // The first refusal was the one that crossed the line, and its alert is still owed.
      if (decision.kind === 'refused' && first.firstRefusal) decision.firstRefusal = true;
    }
    if (decision.kind === 'unavailable') return this.unchecked(bound, decision.error, charged);
    if (decision.kind !== 'missing') this.reportUse(principal.tenantId, bound, decision.states);
    if (decision.kind === 'refused') {
      const refusing = bound[decision.check];
      if (refusing !== undefined) this.options.onRefused?.(principal.tenantId, kindOf(refusing));
      throw this.refusal(bound, decision, model.name);
    }
    if (decision.kind === 'missing') throw new Error('quota counters stayed unseeded');
    return {
      headers: headersOf(bound, decision.states),
      settle: async (used) => this.release(bound, decision.ticket, used, charged),
    };
  }

  private reportUse(tenantId: string, bound: Bound[], states: PoolState[]): void {
    if (this.options.onUse === undefined) return;
    const uses: LimitUse[] = [];
    bound.forEach((b, i) => {
      const state = states[i];
      if (state !== undefined && state.limit > 0)
        uses.push({ kind: kindOf(b), ratio: (state.limit - state.remaining) / state.limit });
    });
    this.options.onUse(tenantId, uses);
  }

  /** Quota thresholds passed by settled usage; `spec` is one of this limiter's counters. */
  crossed(spec: CounterSpec, crossing: Crossing): void {
    const known = this.quotas.get(spec.key);
    if (known === undefined) return;
    const used = crossing.used / QUOTA_METRICS[known.quota.metric].scale;
    this.emit(known, { threshold: crossing.threshold, used });
  }

  /** One admission; a second with seeds from the usage records for missing quota counters. */
  private async decide(tenantId: string, bound: Bound[]): Promise<Decision> {
    const checks = bound.map((b) => b.check);
    const first = await this.options.admissions.admit(checks);
    if (first.kind !== 'missing') return first;
    const seeded = await Promise.all(
      bound.map(async ({ check, quota }, i) =>
        quota !== undefined && first.checks.includes(i)
          ? {
              ...check,
              spec: {
                ...check.spec,
                seed: await this.options.usedIn(tenantId, quota.quota, quota.window),
              },
            }
          : check,
      ),
    );
    return this.options.admissions.admit(seeded);
  }

  /** The ledger could not say: served and counted for later (open), or a 503 (closed). */
  private unchecked(bound: Bound[], error: unknown, charged: Pricing): Admission {
    this.options.onUnchecked(error);
    if (this.options.failureMode === 'closed')
      throw new GatewayError('service_unavailable', {
        message: 'Rate limits cannot be checked right now; please retry shortly.',
      });
    const ticket = this.options.admissions.admitUnchecked(bound.map((b) => b.check));
    return { headers: {}, settle: async (used) => this.release(bound, ticket, used, charged) };
  }

  private release(bound: Bound[], ticket: Ticket, used: Used | null, charged: Pricing): void {
    if (used === null) {
      this.options.admissions.release(ticket, null);
      return;
    }
    const metrics = new Set(bound.map((b) => b.quota?.quota.metric));
    const counts: Counts = {
      tokens: used.tokens,
      cost: toNanos(used.cost),
      charge: metrics.has('charge') ? charged(used) : 0,
    };
    this.options.admissions.release(
      ticket,
      bound.map(({ limit, quota }) => {
        if (quota !== undefined) return counts[quota.quota.metric];
        if (limit !== undefined && countsTokens(limitKind(limit.kind))) return used.tokens;
        // A request counts as one, whatever happened; a concurrent slot just comes back.
        return null;
      }),
    );
  }

  private quotaCheck(
    principal: TenantPrincipal,
    quota: Quota,
    at: Date,
    amount: number,
    plan: PricePlan | null,
  ): Bound {
    const window = periodAt(quota.period, at);
    const spec: CounterSpec = {
      key: `llmb:q:{${principal.tenantId}}:${quota.id}:${window.label}`,
      kind: 'quota',
      limit: Math.round(quota.amount * QUOTA_METRICS[quota.metric].scale),
      thresholds: quota.thresholds,
      ...(window.end && { expiresAt: window.end.getTime() + QUOTA_MARGIN_MS }),
    };
    const currency = quota.metric === 'charge' ? plan?.currency : undefined;
    const known = { tenantId: principal.tenantId, quota, window, currency };
    if (!this.quotas.has(spec.key)) {
      if (this.quotas.size >= MAX_KNOWN_QUOTAS)
        this.quotas.delete(this.quotas.keys().next().value as string);
      this.quotas.set(spec.key, known);
    }
    return { check: { spec, amount }, quota: known };
  }

  private refusal(
    bound: Bound[],
    decision: Extract<Decision, { kind: 'refused' }>,
    model: string,
  ): GatewayError {
    const item = bound[decision.check] as Bound;
    const headers = headersOf(bound, decision.states);
    if (item.quota) {
      if (decision.firstRefusal) this.emit(item.quota);
      return quotaRefusal(item.quota, headers);
    }
    const state = stateAt(decision.states, decision.check);
    return rateRefusal(item, decision.retryAfterMs, state, model, headers);
  }

  private emit(known: QuotaInPeriod, crossing?: { threshold: number; used: number }): void {
    const { quota, window, tenantId } = known;
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
    if (crossing === undefined) publisher.publish('quota.exhausted', tenantId, data);
    else publisher.publish('quota.threshold_reached', tenantId, { ...data, ...crossing });
  }
}

/** The name a check goes by in the metrics: its limit kind, or its quota's metric and period. */
function kindOf(bound: Bound): string {
  if (bound.limit !== undefined) return bound.limit.kind;
  const quota = bound.quota?.quota;
  if (quota === undefined) return 'unknown';
  const metric = QUOTA_METRICS[quota.metric].metricsKind;
  return quota.period === 'total' ? `${metric}_total` : `${metric}_per_${quota.period}`;
}

const stateAt = (states: PoolState[], i: number): PoolState =>
  states[i] ?? { limit: 0, remaining: 0, resetMs: 0 };

const headersOf = (bound: Bound[], states: PoolState[]) =>
  rateLimitHeaders(bound.map((b, i) => ({ family: familyOf(b), ...stateAt(states, i) })));

function ruleChecks(
  principal: TenantPrincipal,
  rule: LimitRule,
  tokens: number,
  requestsOnly: boolean,
): Bound[] {
  return LIMIT_KIND_NAMES.flatMap((kind) => {
    const limit = rule.limits[kind];
    if (limit === null || (requestsOnly && countsTokens(limitKind(kind)))) return [];
    const { counter, counterKey } = limitKind(kind);
    // One hash tag per tenant: every key of one call lands in one Redis Cluster slot.
    const key = `llmb:rl:{${principal.tenantId}}:${rule.id}:${counterKey}`;
    const spec: CounterSpec =
      counter.type === 'concurrent'
        ? { key, kind: 'concurrent', limit }
        : { key, kind: 'window', limit, windowMs: counter.windowMs };
    const amount = countsTokens(limitKind(kind)) ? tokens : 1;
    return [{ check: { spec, amount }, limit: { rule, kind } }];
  });
}

const CONCURRENT_RETRY_MS = 1000;

/** A 429 worded as OpenAI's, with the wait in `retry-after` and `retry-after-ms`. */
function rateRefusal(
  item: Bound,
  waitMs: number,
  state: PoolState,
  model: string,
  headers: Record<string, string>,
): GatewayError {
  const spec = limitKind(item.limit?.kind ?? 'requests_per_minute');
  // A slot frees when a running request ends, which no counter can foresee; the hold's end
  // is only the worst case, so a client is told to try again soon.
  const retryAfterMs =
    spec.counter.type === 'concurrent' ? Math.min(waitMs, CONCURRENT_RETRY_MS) : waitMs;
  const scope = item.limit?.rule.scope;
  const on = scope === 'tenant' ? 'this tenant' : `this ${scope ?? 'key'}`;
  const { limit } = item.check.spec;
  const used = limit - state.remaining;
  return new GatewayError('rate_limit_exceeded', {
    type: spec.errorType,
    message:
      `Rate limit reached for ${model} on ${on} on ${spec.per}: Limit ${limit}, ` +
      `Used ${used}, Requested ${item.check.amount}. Please try again in ${formatDuration(retryAfterMs)}.`,
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
function quotaRefusal(
  { quota, currency }: QuotaInPeriod,
  headers: Record<string, string>,
): GatewayError {
  const { noun } = QUOTA_METRICS[quota.metric];
  const unit = currency ?? QUOTA_METRICS[quota.metric].unit;
  const on = quota.scope === 'tenant' ? 'this tenant' : `this ${quota.scope}`;
  return new GatewayError('insufficient_quota', {
    message: `You exceeded ${QUOTA_PERIODS[quota.period].refusal} ${noun} of ${quota.amount} ${unit} on ${on}. Ask an admin of your organization to raise it, or wait for the next period.`,
    headers: { ...headers, 'x-should-retry': 'false' },
  });
}
