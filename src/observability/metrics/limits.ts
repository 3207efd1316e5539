import { Counter, Gauge, type Registry } from 'prom-client';
import { seriesOf } from './series.js';

/** One limit a request was held to, and how much of it is used: `used / limit`. */
export interface LimitUse {
  kind: string;
  ratio: number;
}

export interface LimitMetrics {
  refused(tenant: string, kind: string): void;
  /**
   * What an admission saw of the tenant's limits, highest use per kind. Set on the request
   * path from the counters the admission read anyway: nothing more is asked of the ledger, and
   * a scrape reads a small map (tenant labels are capped, kinds are catalogued).
   */
  used(tenant: string, uses: readonly LimitUse[]): void;
  /** The ledger could not decide a request in time. */
  storeError(): void;
}

export function limitMetrics(registry: Registry): LimitMetrics {
  const refusals = new Counter({
    name: 'llm_backend_limit_refusals_total',
    help: 'Requests refused by a rate limit, quota or budget, by kind (requests_per_minute, tokens_per_day, budget_usd_per_month, ...) and tenant.',
    labelNames: ['kind', 'tenant'],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'llm_backend_rate_limit_store_errors_total',
    help: 'Requests the ledger (Redis) could not decide in time; served or refused per RATE_LIMIT_FAILURE_MODE.',
    registers: [registry],
  });
  const latest = new Map<string, { tenant: string; kind: string; ratio: number }>();
  new Gauge({
    name: 'llm_backend_limit_use_ratio',
    help: "Use of each tenant's limits, quotas and budgets as a fraction of the limit (1 is full), as the latest admission of this instance saw it; the highest per kind.",
    labelNames: ['tenant', 'kind'],
    registers: [registry],
    collect() {
      for (const { tenant, kind, ratio } of latest.values()) this.set({ tenant, kind }, ratio);
    },
  });
  const refusal = seriesOf((kind, tenant) => refusals.labels(kind, tenant));
  return {
    refused: (tenant, kind) => refusal(kind, tenant).inc(),
    used(tenant, uses) {
      const highest = new Map<string, number>();
      for (const { kind, ratio } of uses)
        highest.set(kind, Math.max(ratio, highest.get(kind) ?? Number.NEGATIVE_INFINITY));
      for (const [kind, ratio] of highest)
        latest.set(`${tenant}\0${kind}`, { tenant, kind, ratio });
    },
    storeError: () => errors.inc(),
  };
}
