import { connectRedis } from '../../storage/redis-client.js';
import { deriveKey } from '../keys/key-hash.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { DeliveryService } from './delivery-service.js';
import { type DueIndex, MemoryDueIndex } from './due-index.js';
import { RedisDueIndex } from './redis-due-index.js';
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
  masterKey: string;
  /** Null: the in-process due index (one instance). */
  redisUrl: string | null;
  /** The due index's key in Redis (tests pick their own). */
  dueKey?: string;
}

/** Everything webhooks need, built once next to the other services. */
export interface Webhooks {
  endpoints: WebhookService;
  deliveries: DeliveryService;
  due: DueIndex;
  guard: UrlGuard;
  settings: WebhookSettings;
  close(): Promise<void>;
}

function openDueIndex(redisUrl: string | null, key: string): DueIndex {
  if (redisUrl === null) return new MemoryDueIndex();
  return new RedisDueIndex({ client: connectRedis(redisUrl), key, ownsConnection: true });
}

export function buildWebhooks(options: BuildWebhooksOptions): Webhooks {
  const { tenants, allowedHosts, timeoutMs, retryBaseMs } = options;
  const due = openDueIndex(options.redisUrl, options.dueKey ?? WEBHOOK_DUE_KEY);
  const guard = new UrlGuard({ allowedHosts, resolveTimeoutMs: timeoutMs });
  const box = new SecretBox(deriveKey(options.masterKey, 'webhook-secrets'));
  return {
    endpoints: new WebhookService({ tenants, box, guard }),
    deliveries: new DeliveryService({ tenants, due }),
    due,
    guard,
    settings: { allowedHosts, timeoutMs, retryBaseMs },
    close: () => due.close(),
  };
}
