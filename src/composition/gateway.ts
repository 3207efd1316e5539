import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { AppConfig } from '../config/load.js';
import { AlertMonitor } from '../services/alerts/alert-monitor.js';
import { type Authenticator, CachingAuthenticator } from '../services/keys/authenticator.js';
import { FailureThrottle } from '../services/keys/failure-throttle.js';
import { RateLimiter } from '../services/limits/limiter.js';
import { LimitsCache } from '../services/limits/limits-cache.js';
import { buildRouting, type Routing } from './routing.js';
import type { Services } from './services.js';

/**
 * The longest a concurrent-request slot is held without its request settling (say, an
 * instance died mid-stream): long enough for any stream, short enough to heal.
 */
const CONCURRENCY_LEASE_MS = 30 * 60_000;

/** What only the HTTP gateway needs on top of the services: the request path's objects. */
export interface Gateway {
  routing: Routing;
  authenticator: Authenticator;
  limiter: RateLimiter;
  alerts: AlertMonitor;
}

export interface GatewayDeps {
  config: AppConfig;
  services: Services;
  metrics: Registry;
  log: Logger;
}

export async function buildGateway({
  config,
  services,
  metrics,
  log,
}: GatewayDeps): Promise<Gateway> {
  const { env } = config;
  const providerKeys = services.providerKeys;
  const routing = await buildRouting(config, metrics, log, (tenantId, providerId) =>
    providerKeys.keyFor(tenantId, providerId),
  );
  const authenticator = new CachingAuthenticator(services.keys, services.bus, {
    usage: services.keyUsage,
    throttle: new FailureThrottle(env.authFailuresPerMinute),
  });
  const storeErrors = new Counter({
    name: 'rate_limit_store_errors_total',
    help: 'Rate limit checks the store (Redis) could not answer; served or refused per RATE_LIMIT_FAILURE_MODE.',
    registers: [metrics],
  });
  const limits = new LimitsCache(
    { rules: services.limitRules, quotas: services.quotas },
    services.bus,
  );
  const limiter = new RateLimiter({
    store: services.limitStore,
    limits: (tenantId) => limits.get(tenantId),
    usedIn: (tenantId, quota, window) => services.usageRecords.usedIn(tenantId, quota, window),
    publisher: services.publisher,
    failureMode: env.rateLimitFailureMode,
    leaseMs: CONCURRENCY_LEASE_MS,
    onStoreError: (error) => {
      storeErrors.inc();
      log.warn({ err: error, failureMode: env.rateLimitFailureMode }, 'rate limit store failed');
    },
  });
  const alerts = new AlertMonitor({
    config: config.alerts,
    gate: services.alertGate,
    onEvent: (type, tenantId, data) => services.publisher.publish(type, tenantId, data),
    onError: (error) => log.warn({ err: error }, 'alert gate failed'),
  });
  return { routing, authenticator, limiter, alerts };
}
