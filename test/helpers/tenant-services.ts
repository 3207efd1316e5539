import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { DestinationStream } from 'pino';
import type { BackendOverrides } from '../../src/composition/backends.js';
import { compose, type Role, type Root } from '../../src/composition/root.js';
import type { Services } from '../../src/composition/services.js';
import type { DatabaseServerConfig } from '../../src/config/database-servers.js';
import { type AppConfig, loadConfig } from '../../src/config/load.js';
import type { PlacementPolicy } from '../../src/config/placement.js';
import type { BatchQueue } from '../../src/services/batches/batch-queue.js';
import type { IdempotencyStore, ResponseStore } from '../../src/services/cache/store.js';
import type { FlightExchange } from '../../src/services/dedup/exchange.js';
import type { EventLog } from '../../src/services/events/event-log.js';
import type { InvalidationBus } from '../../src/services/keys/invalidation.js';
import type { Ledger } from '../../src/services/limits/ledger.js';
import type { ConversationCache } from '../../src/services/responses/conversation-cache.js';
import type { SessionStore } from '../../src/services/sessions/store.js';
import type { ProvisionalUsage } from '../../src/services/usage/provisional-usage.js';
import type { UsageQueue } from '../../src/services/usage/queue.js';
import type { DueIndex } from '../../src/services/webhooks/due-index.js';
import { DatabaseServers } from '../../src/storage/database-servers.js';
import type { Storage } from '../../src/storage/open.js';
import { TenantConnections } from '../../src/storage/tenant-connections.js';
import { type BackendKind, createBackend, type TestBackend } from './databases.js';

export interface TestServices extends Services {
  backend: TestBackend;
  connections: TenantConnections;
  /** Where purged tenants' exports go. */
  exportDirectory: string;
  /** The composed process the services belong to. */
  root: Root;
  close(): Promise<void>;
}

export interface TestServicesOptions {
  deletionGraceMs?: number;
  bus?: InvalidationBus;
  /** Share another instance's databases instead of creating fresh ones. */
  backend?: TestBackend;
  /** Default: a temporary directory, removed by close(). */
  exportDirectory?: string;
  /** Default: the in-process ledger. */
  ledger?: Ledger;
  /** The config file's `database_servers`, next to the backend's own server (PostgreSQL). */
  servers?: readonly DatabaseServerConfig[];
  /** Default: the in-process queue. */
  usageQueue?: UsageQueue;
  /** Default: in-process progress records. */
  usageProgress?: ProvisionalUsage;
  /** Default: an in-process list. */
  events?: EventLog;
  /** Default: logs are not shipped. */
  logStream?: EventLog | null;
  /** Default: the in-process due index. */
  dueIndex?: DueIndex;
  /** Default: the in-process response cache. */
  responses?: ResponseStore;
  /** Default: in-process idempotency keys. */
  idempotency?: IdempotencyStore;
  /** Default: the in-process conversation cache. */
  conversations?: ConversationCache;
  /** Where instances share answers in flight; default: none (this instance's own flights). */
  dedup?: FlightExchange | null;
  /** The admin panel's sessions; default: in-process. */
  sessions?: SessionStore;
  /** What billing and the admin panel's sessions take for now; default: the system clock. */
  clock?: () => Date;
  /** Default: the in-process batch queue. */
  batchQueue?: BatchQueue;
  /** Default: no allow-list, 2 s timeouts and 50 ms retries. */
  webhooks?: { allowedHosts?: string[]; timeoutMs?: number; retryBaseMs?: number };
  /** TENANT_PLACEMENT; default: as the config says (`default`). */
  placement?: PlacementPolicy;
  /** The tenant pool cap and connections per pool; default: 8 pools of 2 connections. */
  tenantPools?: { maxOpen: number; connections: number };
  /** Spans of a `serve` root go here, tracing on; default: as the config says (off). */
  spanExporter?: SpanExporter;
}

/** The master key the test services seal and hash with. */
export const TEST_MASTER_KEY = 'test-master-key-0123456789abcdef';

/** The bundled configuration (mock models), with the test master key. */
function defaultConfig(): AppConfig {
  return loadConfig({ MASTER_KEY: TEST_MASTER_KEY });
}

/** The config with the test's settings over it, as the environment would give them. */
function testConfig(
  config: AppConfig,
  options: TestServicesOptions,
  exportDirectory: string,
): AppConfig {
  return {
    ...config,
    env: {
      ...config.env,
      masterKey: config.env.masterKey ?? TEST_MASTER_KEY,
      tenantDeletionGraceHours: (options.deletionGraceMs ?? 0) / 3_600_000,
      tenantPlacement: options.placement ?? config.env.tenantPlacement,
      exportDir: exportDirectory,
      webhookAllowedHosts: options.webhooks?.allowedHosts ?? [],
      webhookTimeoutMs: options.webhooks?.timeoutMs ?? 2000,
      webhookRetryBaseMs: options.webhooks?.retryBaseMs ?? 50,
    },
  };
}

/** A storage over the test backend, as openStorage would make it over DATABASE_URL. */
function storageOn(
  backend: TestBackend,
  options: TestServicesOptions,
  onClose: () => Promise<void>,
): Storage {
  const servers = DatabaseServers.of(backend.server, options.servers);
  const { maxOpen = 8, connections = 2 } = options.tenantPools ?? {};
  const tenants = new TenantConnections(servers, { maxOpen, maxConnectionsPerTenant: connections });
  return {
    server: backend.server,
    servers,
    control: backend.control,
    tenants,
    close: async () => {
      await tenants.close();
      await servers.close();
      await onClose();
    },
  };
}

export interface ComposeForTestOptions extends TestServicesOptions {
  role: Role;
  /** The app's configuration (default: the bundled one). */
  config?: AppConfig;
  logDestination?: DestinationStream;
}

/** A process composed as the server composes it, over fresh (or shared) test databases. */
export async function composeForTest(
  kind: BackendKind,
  options: ComposeForTestOptions,
): Promise<TestServices> {
  const backend = options.backend ?? (await createBackend(kind));
  const exportDirectory =
    options.exportDirectory ?? mkdtempSync(join(tmpdir(), 'llm-backend-exports-'));
  const storage = storageOn(backend, options, async () => {
    if (options.backend === undefined) await backend.destroy();
    if (options.exportDirectory === undefined)
      rmSync(exportDirectory, { recursive: true, force: true });
  });
  // As openStorage does: a replica is read from once its lag is known.
  await storage.servers.ready();
  const overrides: BackendOverrides = {
    bus: options.bus,
    ledger: options.ledger,
    usageQueue: options.usageQueue,
    usageProgress: options.usageProgress,
    events: options.events,
    logStream: options.logStream,
    dueIndex: options.dueIndex,
    responses: options.responses,
    idempotency: options.idempotency,
    conversations: options.conversations,
    dedup: options.dedup,
    sessions: options.sessions,
    batchQueue: options.batchQueue,
  };
  const root = await compose(
    testConfig(options.config ?? defaultConfig(), options, exportDirectory),
    {
      role: options.role,
      storage,
      backends: Object.fromEntries(
        Object.entries(overrides).filter(([, value]) => value !== undefined),
      ),
      logDestination: options.logDestination ?? silent,
      spanExporter: options.spanExporter,
      clock: options.clock,
    },
  );
  return {
    ...root.services,
    backend,
    connections: storage.tenants,
    exportDirectory,
    root,
    close: () => root.close(),
  };
}

/** Log lines nobody reads: the tests of services look at results, not logs. */
const silent: DestinationStream = { write: () => {} };

/** The real services on a fresh control plane of the given kind, as the server builds them. */
export function servicesOn(
  kind: BackendKind,
  options: TestServicesOptions = {},
): Promise<TestServices> {
  return composeForTest(kind, { ...options, role: 'cli' });
}
