import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseServerConfig } from '../../src/config/database-servers.js';
import { MemoryEpisodeGate } from '../../src/services/alerts/episode-gate.js';
import { KeyRing } from '../../src/services/credentials/key-ring.js';
import {
  PROVIDER_KEYS_PURPOSE,
  ProviderKeyService,
} from '../../src/services/credentials/provider-keys.js';
import { type EventLog, MemoryEventLog } from '../../src/services/events/event-log.js';
import {
  type InvalidationBus,
  LocalInvalidationBus,
} from '../../src/services/keys/invalidation.js';
import { ApiKeyHasher, deriveKey } from '../../src/services/keys/key-hash.js';
import { KeyService } from '../../src/services/keys/key-service.js';
import { KeyUsageRecorder } from '../../src/services/keys/key-usage.js';
import { PlatformKeyService } from '../../src/services/keys/platform-key-service.js';
import { LimitRuleService } from '../../src/services/limits/limit-rules.js';
import { MemoryRateLimitStore } from '../../src/services/limits/memory-store.js';
import { QuotaService } from '../../src/services/limits/quotas.js';
import type { RateLimitStore } from '../../src/services/limits/store.js';
import type { Services } from '../../src/services/services.js';
import { TenantService } from '../../src/services/tenancy/tenant-service.js';
import { UserService } from '../../src/services/tenancy/user-service.js';
import { MemoryUsageQueue } from '../../src/services/usage/memory-queue.js';
import type { UsageQueue } from '../../src/services/usage/queue.js';
import { UsagePublisher } from '../../src/services/usage/usage-publisher.js';
import { UsageRecords } from '../../src/services/usage/usage-records.js';
import { type BuildWebhooksOptions, buildWebhooks } from '../../src/services/webhooks/webhooks.js';
import { DatabaseServers } from '../../src/storage/database-servers.js';
import { TenantConnections } from '../../src/storage/tenant-connections.js';
import { type BackendKind, createBackend, type TestBackend } from './databases.js';

export interface TestServices extends Services {
  backend: TestBackend;
  connections: TenantConnections;
  /** Where purged tenants' exports go. */
  exportDirectory: string;
  close(): Promise<void>;
}

export interface TestServicesOptions {
  deletionGraceMs?: number;
  bus?: InvalidationBus;
  /** Share another instance's databases instead of creating fresh ones. */
  backend?: TestBackend;
  /** Default: a temporary directory, removed by close(). */
  exportDirectory?: string;
  /** Default: the in-process store. */
  limitStore?: RateLimitStore;
  /** The config file's `database_servers`, next to the backend's own server (PostgreSQL). */
  servers?: readonly DatabaseServerConfig[];
  /** Default: the in-process queue. */
  usageQueue?: UsageQueue;
  /** Default: an in-process list. */
  events?: EventLog;
  /** Default: logs are not shipped. */
  logStream?: EventLog | null;
  /** Default: an in-process due index, no allow-list, 2 s timeouts and 50 ms retries. */
  webhooks?: Partial<Omit<BuildWebhooksOptions, 'tenants' | 'masterKey'>>;
  /** Providers that take tenants' own keys, and every other configured one. Default: none. */
  providerKeys?: { tenantKeyProviders: ReadonlySet<string>; providers?: ReadonlySet<string> };
}

/** The master key the test services seal and hash with. */
export const TEST_MASTER_KEY = 'test-master-key-0123456789abcdef';

/** The real services on a fresh control plane of the given kind, as the server builds them. */
export async function servicesOn(
  kind: BackendKind,
  options: TestServicesOptions = {},
): Promise<TestServices> {
  const backend = options.backend ?? (await createBackend(kind));
  const servers = DatabaseServers.of(backend.server, options.servers);
  const connections = new TenantConnections(servers, {
    maxOpen: 8,
    maxConnectionsPerTenant: 2,
  });
  const bus = options.bus ?? new LocalInvalidationBus();
  const exportDirectory =
    options.exportDirectory ?? mkdtempSync(join(tmpdir(), 'llm-backend-exports-'));
  const tenants = new TenantService({
    control: backend.control,
    connections,
    deletionGraceMs: options.deletionGraceMs ?? 0,
    exportDirectory,
    bus,
  });
  const masterKey = TEST_MASTER_KEY;
  const hasher = new ApiKeyHasher(deriveKey(masterKey, 'api-key-hash'));
  const platformKeys = new PlatformKeyService({ control: backend.control, hasher, bus });
  const keyUsage = new KeyUsageRecorder(tenants, platformKeys);
  const limitStore = options.limitStore ?? new MemoryRateLimitStore();
  const usageQueue = options.usageQueue ?? new MemoryUsageQueue({ claimIdleMs: 30_000 });
  const usageRecords = new UsageRecords(tenants);
  const events = options.events ?? new MemoryEventLog();
  const alertGate = new MemoryEpisodeGate();
  const webhooks = buildWebhooks({
    tenants,
    masterKey,
    redisUrl: null,
    allowedHosts: [],
    timeoutMs: 2000,
    retryBaseMs: 50,
    ...options.webhooks,
  });
  const usagePublisher = new UsagePublisher({ queue: usageQueue, records: usageRecords });
  const providerKeys = new ProviderKeyService({
    tenants,
    ring: KeyRing.derive(masterKey, null, PROVIDER_KEYS_PURPOSE),
    bus,
    tenantKeyProviders: options.providerKeys?.tenantKeyProviders ?? new Set(),
    providers: options.providerKeys?.providers,
  });
  return {
    backend,
    connections,
    exportDirectory,
    tenants,
    keys: new KeyService({ tenants, control: backend.control, hasher, bus, platformKeys, events }),
    platformKeys,
    users: new UserService({ tenants, bus }),
    keyUsage,
    bus,
    limitRules: new LimitRuleService({ tenants, bus }),
    quotas: new QuotaService({ tenants, bus }),
    limitStore,
    usageQueue,
    usageRecords,
    usagePublisher,
    events,
    alertGate,
    webhooks,
    logStream: options.logStream ?? null,
    providerKeys,
    close: async () => {
      await usagePublisher.close();
      await usageQueue.close();
      await events.close();
      await alertGate.close();
      await options.logStream?.close();
      await webhooks.close();
      await keyUsage.close();
      providerKeys.clearCache();
      await limitStore.close();
      await bus.close();
      await connections.close();
      await servers.close();
      if (options.backend === undefined) await backend.destroy();
      if (options.exportDirectory === undefined)
        rmSync(exportDirectory, { recursive: true, force: true });
    },
  };
}
