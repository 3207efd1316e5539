import type { Logger } from 'pino';
import type { AppConfig } from '../config/load.js';
import type { Metrics } from '../observability/metrics/catalogue.js';
import { Admissions } from '../services/limits/admission.js';
import { RateLimiter } from '../services/limits/limiter.js';
import { LimitsCache } from '../services/limits/limits-cache.js';
import type { Backends } from './backends.js';
import type { Services } from './services.js';

/** How long a window lease hands out units: what it did not is back a moment later. */
const LEASE_MS = 1000;
/**
 * How long a concurrent or quota hold lives unless renewed (at a third of it): the longest
 * the slots of an instance that died stay taken.
 */
const HOLD_MS = 15_000;
/** How long idle capacity stays with this instance for its next requests before it goes back. */
const IDLE_MS = 250;

export interface LimiterDeps {
  config: AppConfig;
  services: Services;
  backends: Backends;
  /** This process's name in the ledger. */
  holder: string;
  instruments: Metrics;
  log: Logger;
}

/**
 * The rate limits, quotas and budgets over the shared ledger: what the gateway's requests
 * and the workers' batch lines are admitted by. `admissions.close()` gives back what this
 * process holds.
 */
export function buildLimiter({
  config,
  services,
  backends,
  holder,
  instruments,
  log,
}: LimiterDeps) {
  const { env } = config;
  const { tenants } = instruments;
  const limits = new LimitsCache(
    { rules: services.limitRules, quotas: services.quotas, plans: services.billing },
    services.bus,
  );
  let limiter: RateLimiter | null = null;
  const admissions = new Admissions({
    ledger: backends.ledger,
    holder,
    instances: () => backends.instances.count(),
    leaseMs: LEASE_MS,
    holdMs: HOLD_MS,
    idleMs: IDLE_MS,
    timeoutMs: env.redisTimeoutMs,
    onError: (error) => log.warn({ err: error }, 'rate limit ledger call failed'),
    onCrossing: (spec, crossing) => limiter?.crossed(spec, crossing),
    // Announced like cache invalidations: to every instance, this one included.
    reclaim: {
      publish: (key) => services.bus.publish({ reclaim: key }),
      subscribe: (listener) =>
        services.bus.subscribe((message) => {
          if ('reclaim' in message) listener(message.reclaim);
        }),
    },
  });
  limiter = new RateLimiter({
    admissions,
    limits: (tenantId) => limits.get(tenantId),
    usedIn: (tenantId, quota, window) => services.usageRecords.usedIn(tenantId, quota, window),
    publisher: services.publisher,
    failureMode: env.rateLimitFailureMode,
    onRefused: (tenantId, kind) => instruments.limits.refused(tenants.of(tenantId), kind),
    onUse: (tenantId, uses) => instruments.limits.used(tenants.of(tenantId), uses),
    onUnchecked: (error) => {
      instruments.limits.storeError();
      log.warn({ err: error, failureMode: env.rateLimitFailureMode }, 'rate limits not checked');
    },
  });
  return { limiter, admissions };
}
