import type { EnvConfig } from '../config/env.js';
import {
  type EpisodeGate,
  MemoryEpisodeGate,
  RedisEpisodeGate,
} from '../services/alerts/episode-gate.js';
import {
  type BatchQueue,
  MemoryBatchQueue,
  RedisBatchQueue,
} from '../services/batches/batch-queue.js';
import { MemoryIdempotencyStore, MemoryResponseStore } from '../services/cache/memory-store.js';
import { RedisIdempotencyStore, RedisResponseStore } from '../services/cache/redis-store.js';
import type { IdempotencyStore, ResponseStore } from '../services/cache/store.js';
import type { FlightExchange } from '../services/dedup/exchange.js';
import { RedisFlightExchange } from '../services/dedup/redis-exchange.js';
import { type EventFeed, RedisEventFeed } from '../services/events/event-feed.js';
import {
  EVENT_STREAM,
  type EventLog,
  MemoryEventLog,
  RedisEventLog,
} from '../services/events/event-log.js';
import { MemoryEventFeed } from '../services/events/memory-event-feed.js';
import {
  type InvalidationBus,
  LocalInvalidationBus,
  RedisInvalidationBus,
} from '../services/keys/invalidation.js';
import {
  type InstanceCount,
  RedisInstanceCount,
  SINGLE_INSTANCE,
} from '../services/limits/instances.js';
import type { Ledger } from '../services/limits/ledger.js';
import { MemoryLedger } from '../services/limits/memory-ledger.js';
import { RedisLedger } from '../services/limits/redis-ledger.js';
import { LOG_STREAM_BATCH_MS, LOG_STREAM_MAX } from '../services/logs/log-shipping.js';
import {
  type ConversationCache,
  MemoryConversationCache,
} from '../services/responses/conversation-cache.js';
import { RedisConversationCache } from '../services/responses/redis-conversation-cache.js';
import { RedisSessionStore } from '../services/sessions/redis-store.js';
import { MemorySessionStore, type SessionStore } from '../services/sessions/store.js';
import {
  MemoryTenantFence,
  RedisTenantFence,
  type TenantFence,
} from '../services/tenancy/tenant-fence.js';
import { MemoryUsageQueue } from '../services/usage/memory-queue.js';
import {
  MemoryProvisionalUsage,
  type ProvisionalUsage,
} from '../services/usage/provisional-usage.js';
import type { UsageQueue } from '../services/usage/queue.js';
import { RedisProvisionalUsage } from '../services/usage/redis-provisional-usage.js';
import { RedisUsageQueue } from '../services/usage/redis-queue.js';
import { type DueIndex, MemoryDueIndex } from '../services/webhooks/due-index.js';
import { RedisDueIndex } from '../services/webhooks/redis-due-index.js';
import { WEBHOOK_DUE_KEY } from '../services/webhooks/webhooks.js';
import type { RedisConnections } from '../storage/redis.js';
import { NO_REPLICA_WAIT, ReplicaWait } from '../storage/replica-wait.js';

/**
 * The capabilities that live in Redis when there is one (shared by every instance) and in
 * this process otherwise (one instance). Chosen once, here; every one of them has both
 * implementations behind one interface and one shared test suite.
 */
export interface Backends {
  readonly kind: 'memory' | 'redis';
  /** Key, tenant and limit changes, announced to every instance's caches. */
  bus: InvalidationBus;
  /** Rate limit, quota and budget counters: the one truth every instance takes capacity from. */
  ledger: Ledger;
  /** How many instances share the ledger. */
  instances: InstanceCount;
  /** Usage events on their way to the tenants' databases. */
  usageQueue: UsageQueue;
  /** Running streams' usage so far, for the streams a crash cuts. */
  usageProgress: ProvisionalUsage;
  /** Events for tenants' webhooks and the operator. */
  events: EventLog;
  /** Opens each alert episode once across instances. */
  alertGate: EpisodeGate;
  /** Webhook deliveries due, by time. */
  dueIndex: DueIndex;
  /** The stream request logs and audit entries are shipped through (LOG_STREAM); null: off. */
  logStream: EventLog | null;
  /** Each tenant's exact response cache. */
  responses: ResponseStore;
  /** Idempotency keys and the answers they stand for. */
  idempotency: IdempotencyStore;
  /** Stored Responses API conversations, hot beside the tenants' databases. */
  conversations: ConversationCache;
  /** Where instances share answers in flight; null: one instance, its own flights only. */
  dedup: FlightExchange | null;
  /** The admin panel's sign-in sessions. */
  sessions: SessionStore;
  /** Tenants whose writes pause while their database moves to another server. */
  fence: TenantFence;
  /** Batch API lines on their way to the runners. */
  batchQueue: BatchQueue;
  /** Holds stream appends until the master's replicas have them; counts those none confirmed. */
  readonly replicaWait: ReplicaWait;
  /**
   * The event log (or, with `source` 'logs', the log stream) read by one consumer group,
   * with a blocking reader of its own.
   */
  eventFeed(group: string, claimIdleMs: number, source?: 'events' | 'logs'): EventFeed;
  close(): Promise<void>;
}

export type BackendOverrides = Partial<
  Omit<Backends, 'kind' | 'eventFeed' | 'close' | 'replicaWait'>
>;

type Settings = Pick<
  EnvConfig,
  | 'usageClaimIdleMs'
  | 'usageStream'
  | 'logStream'
  | 'dedup'
  | 'batchClaimIdleMs'
  | 'batchStream'
  | 'redisReplicaAcks'
  | 'redisReplicaAckTimeoutMs'
>;

function memoryFeed(log: EventLog | null, claimIdleMs: number): EventFeed {
  if (!(log instanceof MemoryEventLog))
    throw new Error('an in-process feed reads an in-process event log only');
  return new MemoryEventFeed(log, { claimIdleMs });
}

/** One instance, nothing shared: the embedded default. */
export function memoryBackends(
  settings: Pick<Settings, 'usageClaimIdleMs' | 'batchClaimIdleMs'>,
  overrides: BackendOverrides = {},
): Backends {
  const backends = {
    kind: 'memory' as const,
    bus: overrides.bus ?? new LocalInvalidationBus(),
    ledger: overrides.ledger ?? new MemoryLedger(),
    instances: overrides.instances ?? SINGLE_INSTANCE,
    usageQueue:
      overrides.usageQueue ?? new MemoryUsageQueue({ claimIdleMs: settings.usageClaimIdleMs }),
    usageProgress: overrides.usageProgress ?? new MemoryProvisionalUsage(),
    events: overrides.events ?? new MemoryEventLog(),
    alertGate: overrides.alertGate ?? new MemoryEpisodeGate(),
    dueIndex: overrides.dueIndex ?? new MemoryDueIndex(),
    logStream: overrides.logStream ?? null,
    responses: overrides.responses ?? new MemoryResponseStore(),
    idempotency: overrides.idempotency ?? new MemoryIdempotencyStore(),
    conversations: overrides.conversations ?? new MemoryConversationCache(),
    dedup: overrides.dedup ?? null,
    sessions: overrides.sessions ?? new MemorySessionStore(),
    fence: overrides.fence ?? new MemoryTenantFence(),
    batchQueue:
      overrides.batchQueue ?? new MemoryBatchQueue({ claimIdleMs: settings.batchClaimIdleMs }),
  };
  return {
    ...backends,
    replicaWait: NO_REPLICA_WAIT,
    eventFeed: (_group, claimIdleMs, source = 'events') =>
      memoryFeed(source === 'events' ? backends.events : backends.logStream, claimIdleMs),
    close: () => closeAll(backends),
  };
}

/**
 * How many replicas a stream append waits for: as set, or on 'auto' one when the cluster
 * client's slot map shows a replica of the key's master (none left after a failover: the
 * master alone, not a wait for a replica that is not there on every append).
 */
function replicaWaitOn(
  redis: RedisConnections,
  settings: Pick<Settings, 'redisReplicaAcks' | 'redisReplicaAckTimeoutMs'>,
): ReplicaWait {
  const setting = settings.redisReplicaAcks;
  return new ReplicaWait({
    replicas: setting === 'auto' ? (key) => Math.min(1, redis.replicasOf(key)) : () => setting,
    connection: (stream) => redis.blocking(`replicated-writes:${stream}`),
    timeoutMs: settings.redisReplicaAckTimeoutMs,
  });
}

/** Every instance and worker meets in Redis, over the process's few connections. */
export function redisBackends(
  redis: RedisConnections,
  settings: Settings & { holder: string },
  overrides: BackendOverrides = {},
): Backends {
  const client = redis.command;
  const replicaWait = replicaWaitOn(redis, settings);
  const backends = {
    kind: 'redis' as const,
    bus: overrides.bus ?? new RedisInvalidationBus(redis),
    ledger: overrides.ledger ?? new RedisLedger(client),
    instances: overrides.instances ?? new RedisInstanceCount(client, settings.holder),
    usageQueue:
      overrides.usageQueue ??
      new RedisUsageQueue({
        client,
        blocking: redis.blocking('usage'),
        claimIdleMs: settings.usageClaimIdleMs,
        stream: settings.usageStream,
        replicaWait,
      }),
    usageProgress:
      overrides.usageProgress ??
      new RedisProvisionalUsage({ client, stream: settings.usageStream }),
    events: overrides.events ?? new RedisEventLog({ client, stream: EVENT_STREAM, replicaWait }),
    alertGate: overrides.alertGate ?? new RedisEpisodeGate(client),
    dueIndex: overrides.dueIndex ?? new RedisDueIndex({ client, key: WEBHOOK_DUE_KEY }),
    logStream:
      overrides.logStream !== undefined
        ? overrides.logStream
        : settings.logStream === null
          ? null
          : new RedisEventLog({
              client,
              stream: settings.logStream,
              max: LOG_STREAM_MAX,
              batchMs: LOG_STREAM_BATCH_MS,
              replicaWait,
              waitedAs: 'logs',
            }),
    responses: overrides.responses ?? new RedisResponseStore(client),
    idempotency: overrides.idempotency ?? new RedisIdempotencyStore(client),
    conversations: overrides.conversations ?? new RedisConversationCache(client),
    dedup:
      overrides.dedup !== undefined
        ? overrides.dedup
        : new RedisFlightExchange({
            client,
            blocking: () => redis.blocking('dedup'),
            cluster: redis.cluster,
            leaseMs: settings.dedup.leaseMs,
          }),
    sessions: overrides.sessions ?? new RedisSessionStore(client),
    fence: overrides.fence ?? new RedisTenantFence(client),
    batchQueue:
      overrides.batchQueue ??
      new RedisBatchQueue({
        client,
        blocking: () => redis.blocking('batches'),
        claimIdleMs: settings.batchClaimIdleMs,
        stream: settings.batchStream,
        replicaWait,
      }),
  };
  return {
    ...backends,
    replicaWait,
    eventFeed(group, claimIdleMs, source = 'events') {
      const log = source === 'events' ? backends.events : backends.logStream;
      // A test (or an embedder) may keep a log in process while the rest is shared.
      if (!(log instanceof RedisEventLog)) return memoryFeed(log, claimIdleMs);
      return new RedisEventFeed({
        client,
        blocking: redis.blocking(`${source}:${group}`),
        stream: log.stream,
        group,
        claimIdleMs,
      });
    },
    close: () => closeAll(backends),
  };
}

/** Queued usage first: publishing it may still need the others. */
async function closeAll(
  backends: Omit<Backends, 'kind' | 'eventFeed' | 'close' | 'replicaWait'>,
): Promise<void> {
  await backends.usageQueue.close();
  await backends.usageProgress.close();
  await backends.events.close();
  await backends.alertGate.close();
  await backends.logStream?.close();
  await backends.dueIndex.close();
  await backends.bus.close();
  await backends.ledger.close();
  await backends.instances.close();
  await backends.responses.close();
  await backends.idempotency.close();
  await backends.conversations.close();
  await backends.dedup?.close();
  await backends.batchQueue.close();
}
