import type { EnvConfig } from '../config/env.js';
import { tenantKeyProviders } from '../providers/registry.js';
import type { ProviderConfig } from '../providers/types.js';
import type { Storage } from '../storage/open.js';
import { type EpisodeGate, openEpisodeGate } from './alerts/episode-gate.js';
import { KeyRing } from './credentials/key-ring.js';
import { PROVIDER_KEYS_PURPOSE, ProviderKeyService } from './credentials/provider-keys.js';
import { type EventLog, openEventLog } from './events/event-log.js';
import {
  type InvalidationBus,
  LocalInvalidationBus,
  RedisInvalidationBus,
} from './keys/invalidation.js';
import { ApiKeyHasher, deriveKey } from './keys/key-hash.js';
import { KeyService } from './keys/key-service.js';
import { KeyUsageRecorder } from './keys/key-usage.js';
import { resolveMasterKey } from './keys/master-key.js';
import { PlatformKeyService } from './keys/platform-key-service.js';
import { LimitRuleService } from './limits/limit-rules.js';
import { openRateLimitStore } from './limits/open-store.js';
import { QuotaService } from './limits/quotas.js';
import type { RateLimitStore } from './limits/store.js';
import { openLogStream } from './logs/log-shipping.js';
import { TenantService } from './tenancy/tenant-service.js';
import { UserService } from './tenancy/user-service.js';
import { openUsageQueue } from './usage/open-queue.js';
import type { UsageQueue } from './usage/queue.js';
import { UsagePublisher } from './usage/usage-publisher.js';
import { UsageRecords } from './usage/usage-records.js';
import { buildWebhooks, type Webhooks } from './webhooks/webhooks.js';

export interface Services {
  tenants: TenantService;
  keys: KeyService;
  platformKeys: PlatformKeyService;
  users: UserService;
  /** Batches the keys' last-used times. */
  keyUsage: KeyUsageRecorder;
  /** Where key, tenant and limit changes are announced to every instance's caches. */
  bus: InvalidationBus;
  limitRules: LimitRuleService;
  /** Token quotas and spend budgets (the stored rules). */
  quotas: QuotaService;
  /** The rate limit counters: Redis when configured, in-process otherwise. */
  limitStore: RateLimitStore;
  /** Usage events on their way to the tenants' databases: a Redis Stream, or in-process. */
  usageQueue: UsageQueue;
  usageRecords: UsageRecords;
  /** Hands each request's usage event to the queue, in batches. */
  usagePublisher: UsagePublisher;
  /** Events for tenants and operators (quota thresholds...), for webhooks to deliver. */
  events: EventLog;
  /** Opens each alert episode once across instances. */
  alertGate: EpisodeGate;
  /** The stream request logs and audit entries are shipped through (LOG_STREAM); null: off. */
  logStream: EventLog | null;
  /** Tenants' webhook endpoints and deliveries, and the index of deliveries due. */
  webhooks: Webhooks;
  /** Tenants' own provider keys; `keyFor(tenantId, providerId)` on the request path. */
  providerKeys: ProviderKeyService;
}

/** Whether the config lets tenants store their own key for this provider (`tenant_keys`). */
/** The key-encryption keys of one purpose, from MASTER_KEY (and MASTER_KEY_PREVIOUS). */
export function keyRingFor(env: EnvConfig, purpose: string): KeyRing {
  return KeyRing.derive(resolveMasterKey(env), env.masterKeyPrevious, purpose);
}

/**
 * The services over one storage, built once at start and shared by the HTTP app and the CLI.
 * `providers` (the config file's) say which providers take tenants' own keys.
 */
export function buildServices(
  env: EnvConfig,
  storage: Storage,
  providers: readonly ProviderConfig[] = [],
): Services {
  // Without Redis there is one instance (or a CLI next to it): announcements stay in-process.
  const bus: InvalidationBus =
    env.redisUrl === null ? new LocalInvalidationBus() : new RedisInvalidationBus(env.redisUrl);
  const tenants = new TenantService({
    control: storage.control,
    connections: storage.tenants,
    deletionGraceMs: env.tenantDeletionGraceHours * 3_600_000,
    exportDirectory: env.exportDir,
    bus,
  });
  const masterKey = resolveMasterKey(env);
  const hasher = new ApiKeyHasher(deriveKey(masterKey, 'api-key-hash'));
  const previousHasher =
    env.masterKeyPrevious === null
      ? undefined
      : new ApiKeyHasher(deriveKey(env.masterKeyPrevious, 'api-key-hash'));
  const platformKeys = new PlatformKeyService({ control: storage.control, hasher, bus });
  const usageQueue = openUsageQueue(env.redisUrl, {
    claimIdleMs: env.usageClaimIdleMs,
    stream: env.usageStream,
  });
  const usageRecords = new UsageRecords(tenants);
  const events = openEventLog(env.redisUrl);
  return {
    events,
    alertGate: openEpisodeGate(env.redisUrl),
    logStream: openLogStream(env.redisUrl, env.logStream),
    tenants,
    keys: new KeyService({
      tenants,
      control: storage.control,
      hasher,
      previousHasher,
      bus,
      platformKeys,
      events,
    }),
    platformKeys,
    users: new UserService({ tenants, bus }),
    keyUsage: new KeyUsageRecorder(tenants, platformKeys),
    bus,
    limitRules: new LimitRuleService({ tenants, bus }),
    quotas: new QuotaService({ tenants, bus }),
    limitStore: openRateLimitStore(env.redisUrl, { timeoutMs: env.redisTimeoutMs }),
    usageQueue,
    usageRecords,
    usagePublisher: new UsagePublisher({ queue: usageQueue, records: usageRecords }),
    webhooks: buildWebhooks({
      tenants,
      masterKey,
      redisUrl: env.redisUrl,
      allowedHosts: env.webhookAllowedHosts,
      timeoutMs: env.webhookTimeoutMs,
      retryBaseMs: env.webhookRetryBaseMs,
    }),
    providerKeys: new ProviderKeyService({
      tenants,
      ring: KeyRing.derive(masterKey, env.masterKeyPrevious, PROVIDER_KEYS_PURPOSE),
      bus,
      tenantKeyProviders: tenantKeyProviders(providers),
      providers: new Set(providers.map((p) => p.id)),
    }),
  };
}

/**
 * The embedded default's first start: with no tenant yet, a `default` tenant and an owner key
 * for it, so a new user can call the API at once. Returns the secret to show once, or null.
 */
export async function bootstrapDefaultTenant(services: Services): Promise<string | null> {
  if ((await services.tenants.list()).length > 0) return null;
  await services.tenants.create({ slug: 'default', name: 'Default' });
  const { secret } = await services.keys.create('default', { name: 'bootstrap', role: 'owner' });
  return secret;
}

/** Closes what the services hold, queued usage first (it may still need the databases). */
export async function closeServices(services: Services): Promise<void> {
  await services.usagePublisher.close();
  await services.usageQueue.close();
  await services.events.close();
  await services.alertGate.close();
  await services.logStream?.close();
  await services.webhooks.close();
  await services.keyUsage.close();
  services.providerKeys.clearCache();
  await services.bus.close();
  await services.limitStore.close();
}
