import type { AppConfig } from '../config/load.js';
import { tenantKeyProviders } from '../providers/registry.js';
import type { EpisodeGate } from '../services/alerts/episode-gate.js';
import { AuditLogService } from '../services/audit/audit-log-service.js';
import { ChangeRecorder } from '../services/audit/changes.js';
import { BillingService } from '../services/billing/billing-service.js';
import { InvoiceService } from '../services/billing/invoice-service.js';
import { CacheSettingsService } from '../services/cache/cache-settings.js';
import { KeyRing } from '../services/credentials/key-ring.js';
import {
  PROVIDER_KEYS_PURPOSE,
  ProviderKeyService,
} from '../services/credentials/provider-keys.js';
import type { EventLog } from '../services/events/event-log.js';
import type { EventPublisher } from '../services/events/publisher.js';
import { ModelCatalog } from '../services/inference/model-catalog.js';
import type { InvalidationBus } from '../services/keys/invalidation.js';
import { ApiKeyHasher, deriveKey } from '../services/keys/key-hash.js';
import { KeyService } from '../services/keys/key-service.js';
import { KeyUsageRecorder } from '../services/keys/key-usage.js';
import { resolveMasterKey } from '../services/keys/master-key.js';
import { PlatformKeyService } from '../services/keys/platform-key-service.js';
import type { Ledger } from '../services/limits/ledger.js';
import { LimitRuleService } from '../services/limits/limit-rules.js';
import { QuotaService } from '../services/limits/quotas.js';
import { buildTenantPlacement } from '../services/tenancy/placement.js';
import { TenantService } from '../services/tenancy/tenant-service.js';
import { UserService } from '../services/tenancy/user-service.js';
import type { ProvisionalUsage } from '../services/usage/provisional-usage.js';
import type { UsageQueue } from '../services/usage/queue.js';
import { UsagePublisher, type UsagePublisherLog } from '../services/usage/usage-publisher.js';
import { UsageRecords } from '../services/usage/usage-records.js';
import { UsageReport } from '../services/usage/usage-report.js';
import { buildWebhooks, type Webhooks } from '../services/webhooks/webhooks.js';
import type { Storage } from '../storage/open.js';
import { withDeadline } from '../utils/deadline.js';
import type { Backends } from './backends.js';

/** The services every process role shares: the admin API, the CLI, the gateway and workers. */
export interface Services {
  tenants: TenantService;
  /** Reads each tenant's and the platform's audit log. */
  audit: AuditLogService;
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
  /** The rate limit, quota and budget counters: Redis when configured, in-process otherwise. */
  ledger: Ledger;
  /** Usage events on their way to the tenants' databases: a Redis Stream, or in-process. */
  usageQueue: UsageQueue;
  /** Running streams' usage so far, swept into the queue when their gateway died. */
  usageProgress: ProvisionalUsage;
  usageRecords: UsageRecords;
  /** Sums of the usage records, for the admin API. */
  usageReport: UsageReport;
  /** Hands each request's usage event to the queue, in batches. */
  usagePublisher: UsagePublisher;
  /** Events for tenants and operators (quota thresholds...), for webhooks to deliver. */
  events: EventLog;
  /** Every event raised goes through it: logged, counted, appended to `events`. */
  publisher: EventPublisher;
  /** Opens each alert episode once across instances. */
  alertGate: EpisodeGate;
  /** The stream request logs and audit entries are shipped through (LOG_STREAM); null: off. */
  logStream: EventLog | null;
  /** Tenants' webhook endpoints and deliveries, and the index of deliveries due. */
  webhooks: Webhooks;
  /** Tenants' own provider keys; `keyFor(tenantId, providerId)` on the request path. */
  providerKeys: ProviderKeyService;
  /** Each tenant's response cache settings, and its cache's contents (stats, purge). */
  cacheSettings: CacheSettingsService;
  /** Each tenant's price plan versions and credits. */
  billing: BillingService;
  /** Each tenant's invoices and credit notes: drafts, finalization, payment, voiding. */
  invoices: InvoiceService;
}

export interface ServiceDeps {
  config: AppConfig;
  storage: Storage;
  backends: Backends;
  publisher: EventPublisher;
  log: UsagePublisherLog;
  /** What billing takes for now; the system clock by default. */
  clock?: () => Date;
}

/** How long a tenant's deletion waits for its response cache to be emptied. */
const CACHE_PURGE_DEADLINE_MS = 2000;

/** Builds the services over one storage and one set of backends: cheap, no I/O. */
export function buildServices({
  config,
  storage,
  backends,
  publisher,
  log,
  clock,
}: ServiceDeps): Services {
  const { env, providers } = config;
  const { bus } = backends;
  const changes = new ChangeRecorder(bus);
  const tenants = new TenantService({
    control: storage.control,
    connections: storage.tenants,
    deletionGraceMs: env.tenantDeletionGraceHours * 3_600_000,
    placement: buildTenantPlacement(env.tenantPlacement, storage.servers, storage.control),
    exportDirectory: env.exportDir,
    changes,
    fence: backends.fence,
    forgetCaches: async (tenantId) => {
      try {
        await withDeadline(backends.responses.purge(tenantId), CACHE_PURGE_DEADLINE_MS);
      } catch (error) {
        // The entries then go as their lifetimes end: a deletion never waits for the cache.
        log.warn({ err: error, tenantId }, "a deleted tenant's response cache was not emptied");
      }
    },
  });
  const masterKey = resolveMasterKey(env);
  const hasher = new ApiKeyHasher(deriveKey(masterKey, 'api-key-hash'));
  const previousHasher =
    env.masterKeyPrevious === null
      ? undefined
      : new ApiKeyHasher(deriveKey(env.masterKeyPrevious, 'api-key-hash'));
  const platformKeys = new PlatformKeyService({ control: storage.control, hasher, changes });
  const usageRecords = new UsageRecords(tenants);
  return {
    events: backends.events,
    publisher,
    alertGate: backends.alertGate,
    logStream: backends.logStream,
    tenants,
    audit: new AuditLogService({ tenants, control: storage.control }),
    keys: new KeyService({
      tenants,
      control: storage.control,
      hasher,
      previousHasher,
      changes,
      platformKeys,
      publisher,
    }),
    platformKeys,
    users: new UserService({ tenants, changes }),
    keyUsage: new KeyUsageRecorder(tenants, platformKeys),
    bus,
    limitRules: new LimitRuleService({ tenants, changes }),
    quotas: new QuotaService({ tenants, changes }),
    ledger: backends.ledger,
    usageQueue: backends.usageQueue,
    usageProgress: backends.usageProgress,
    usageRecords,
    usageReport: new UsageReport(tenants),
    usagePublisher: new UsagePublisher({ queue: backends.usageQueue, records: usageRecords, log }),
    webhooks: buildWebhooks({
      tenants,
      changes,
      masterKey,
      due: backends.dueIndex,
      allowedHosts: env.webhookAllowedHosts,
      timeoutMs: env.webhookTimeoutMs,
      retryBaseMs: env.webhookRetryBaseMs,
    }),
    cacheSettings: new CacheSettingsService({
      tenants,
      changes,
      publisher,
      store: backends.responses,
      defaultBudgetBytes: config.cache.tenantBudgetBytes,
      catalog: new ModelCatalog(config.models, config.routers),
    }),
    billing: new BillingService({ tenants, changes, now: clock }),
    invoices: new InvoiceService({
      tenants,
      control: storage.control,
      changes,
      publisher,
      queue: backends.usageQueue,
      now: clock,
    }),
    providerKeys: new ProviderKeyService({
      tenants,
      ring: KeyRing.derive(masterKey, env.masterKeyPrevious, PROVIDER_KEYS_PURPOSE),
      bus,
      changes,
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

/** Closes what the services hold: queued usage first (it may still need the databases). */
export async function closeServices(services: Services): Promise<void> {
  await services.usagePublisher.close();
  await services.keyUsage.close();
  services.providerKeys.clearCache();
}

/** The key-encryption keys of one purpose, from MASTER_KEY (and MASTER_KEY_PREVIOUS). */
export function keyRingFor(env: AppConfig['env'], purpose: string): KeyRing {
  return KeyRing.derive(resolveMasterKey(env), env.masterKeyPrevious, purpose);
}
