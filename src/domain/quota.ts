import type { EntityKind } from './entity.js';
import type { LimitScope } from './roles.js';

/**
 * What a quota can count, in one table: the admin API's schema, the service's checks, the
 * refusal's words and the docs (docs/rate-limits.md, checked by a test) are read from here.
 */
export const QUOTA_METRICS = {
  tokens: {
    /** How the metrics name its quotas' kind: `<this>_per_day`, `<this>_total`. */
    metricsKind: 'tokens',
    description: 'prompt and completion tokens together',
    /** In the refusal: `... today's token quota of 1000 tokens ...`. */
    noun: 'token quota',
    unit: 'tokens',
    /** Counted whole, as Redis counts. */
    whole: true,
    /** What its counter holds of one unit of the amount. */
    scale: 1,
    /** Decimals an amount may have beyond `whole`; null: not checked. */
    decimals: null,
    min: 1,
    max: 1_000_000_000,
  },
  cost: {
    metricsKind: 'budget_usd',
    description: "spend in the currency of the models' prices in the config file (US dollars)",
    noun: 'spend budget',
    unit: 'USD',
    whole: false,
    /** Its counter holds billionths of a dollar. */
    scale: 1e9,
    decimals: null,
    /** The 10 decimals the database keeps. */
    min: 1e-10,
    /**
     * Its counter holds billionths of a dollar, which stay exact integers (below 2^53) only
     * up to about nine million dollars.
     */
    max: 9_000_000,
  },
  charge: {
    metricsKind: 'charge',
    description:
      "what the tenant is charged under its price plan, in the plan's currency (major units, at most 6 decimals); nothing without a plan",
    noun: 'charge budget',
    /** Named in the refusal by the plan's currency code when there is one. */
    unit: "in the plan's currency",
    whole: false,
    /** Its counter holds micro-units, as billing keeps every amount. */
    scale: 1_000_000,
    /** To the micro-unit, as billing's amounts. */
    decimals: 6,
    min: 0.000001,
    /** A billion units: micro-units stay exact integers, and the database keeps 10 digits. */
    max: 1_000_000_000,
  },
} as const;

/** The periods a quota can count over, in one table like the metrics. */
export const QUOTA_PERIODS = {
  day: { description: 'the UTC calendar day, from 00:00 UTC', refusal: "today's" },
  month: {
    description: 'the UTC calendar month, from 00:00 UTC on the 1st',
    refusal: "this month's",
  },
  total: { description: 'never starts again', refusal: 'the total' },
} as const;

export type QuotaMetric = keyof typeof QUOTA_METRICS;
export type QuotaPeriod = keyof typeof QUOTA_PERIODS;
export const QUOTA_METRIC_NAMES = Object.keys(QUOTA_METRICS) as QuotaMetric[];
export const QUOTA_PERIOD_NAMES = Object.keys(QUOTA_PERIODS) as QuotaPeriod[];

/** The largest amount a quota may have, whatever its metric. */
export const MAX_QUOTA_AMOUNT = Math.max(...QUOTA_METRIC_NAMES.map((m) => QUOTA_METRICS[m].max));
export const MAX_THRESHOLDS = 10;

/** "`tokens`: prompt and completion tokens together. `cost`: ...": for the API and the docs. */
export function describeEach(table: Record<string, { description: string }>): string {
  return Object.entries(table)
    .map(([name, { description }]) => `\`${name}\`: ${description}.`)
    .join(' ');
}

/** A token quota or spend budget of the tenant, one of its users or one of its keys. */
export interface Quota {
  id: string;
  scope: LimitScope;
  /** The user or key the quota is for; null for the whole tenant. */
  subjectId: string | null;
  metric: QuotaMetric;
  period: QuotaPeriod;
  amount: number;
  /** Soft thresholds in percent of the amount, 1 to 100, ascending and distinct. */
  thresholds: number[];
  createdAt: Date;
  updatedAt: Date;
}

export function quotaJson(quota: Quota) {
  return {
    object: 'quota' as const,
    id: quota.id,
    scope: quota.scope,
    subject_id: quota.subjectId,
    metric: quota.metric,
    period: quota.period,
    amount: quota.amount,
    thresholds: quota.thresholds,
    created_at: quota.createdAt.toISOString(),
    updated_at: quota.updatedAt.toISOString(),
  };
}

export const QUOTA: EntityKind<Quota> = {
  object: 'quota',
  id: (quota) => quota.id,
  json: quotaJson,
};
