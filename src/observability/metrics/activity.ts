import { Gauge, type Registry } from 'prom-client';
import { ACTIVE_WINDOWS, ActiveCallers, type ActiveWindow } from './active-callers.js';

export interface ActivityMetrics {
  /** A tenant's caller: its key, and its user when the key has one. */
  seen(tenant: string, keyId: string, userId: string | null): void;
}

const WINDOWS = Object.keys(ACTIVE_WINDOWS) as ActiveWindow[];

function activeGauge(registry: Registry, name: string, help: string, callers: ActiveCallers) {
  new Gauge({
    name,
    help,
    labelNames: ['tenant', 'window'],
    registers: [registry],
    collect() {
      // Tenants that went quiet for a day drop out rather than stay at 0.
      this.reset();
      for (const [tenant, counts] of callers.count())
        for (const window of WINDOWS) this.set({ tenant, window }, counts[window]);
    },
  });
}

/** Distinct keys and users per tenant in the last 5 minutes and day, as this instance saw them. */
export function activityMetrics(registry: Registry): ActivityMetrics {
  const keys = new ActiveCallers();
  const users = new ActiveCallers();
  activeGauge(
    registry,
    'llm_backend_active_api_keys',
    'Distinct API keys this instance served per tenant in the window (5m, 1d).',
    keys,
  );
  activeGauge(
    registry,
    'llm_backend_active_users',
    'Distinct users (of keys that have one) this instance served per tenant in the window (5m, 1d).',
    users,
  );
  return {
    seen(tenant, keyId, userId) {
      keys.touch(tenant, keyId);
      if (userId !== null) users.touch(tenant, userId);
    },
  };
}
