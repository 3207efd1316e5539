import type { ChangeRecorder } from '../audit/changes.js';
import { deriveKey } from '../keys/key-hash.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { DeliveryService } from './delivery-service.js';
import type { DueIndex } from './due-index.js';
import { SecretBox } from './secret-box.js';
import { UrlGuard } from './url-guard.js';
import { WebhookService } from './webhook-service.js';

/** The sorted set of due deliveries every instance shares. */
export const WEBHOOK_DUE_KEY = 'llmb:webhooks:due';

export interface WebhookSettings {
  /** WEBHOOK_ALLOWED_HOSTS. */
  allowedHosts: readonly string[];
  /** WEBHOOK_TIMEOUT_MS: one attempt, connection to answer. */
  timeoutMs: number;
  /** WEBHOOK_RETRY_BASE_MS: the first retry's longest wait. */
  retryBaseMs: number;
}

export interface BuildWebhooksOptions extends WebhookSettings {
  tenants: TenantService;
  /** Writes and audits every admin change to webhooks and deliveries. */
  changes: ChangeRecorder;
  masterKey: string;
  /** Deliveries due, by time: in Redis, or in process for one instance. */
  due: DueIndex;
}

/** Everything webhooks need, built once next to the other services. */
export interface Webhooks {
  endpoints: WebhookService;
  deliveries: DeliveryService;
  due: DueIndex;
  guard: UrlGuard;
  settings: WebhookSettings;
}

export function buildWebhooks(options: BuildWebhooksOptions): Webhooks {
  const { tenants, changes, allowedHosts, timeoutMs, retryBaseMs, due } = options;
  const guard = new UrlGuard({ allowedHosts, resolveTimeoutMs: timeoutMs });
  const box = new SecretBox(deriveKey(options.masterKey, 'webhook-secrets'));
  return {
    endpoints: new WebhookService({ tenants, box, guard, changes }),
    deliveries: new DeliveryService({ tenants, due, changes }),
    due,
    guard,
    settings: { allowedHosts, timeoutMs, retryBaseMs },
  };
}
