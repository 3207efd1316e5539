import type { Kysely } from 'kysely';
import type { EnvConfig } from '../../config/env.js';
import { connectRedis } from '../../storage/redis-client.js';
import { RedisEventFeed } from '../events/event-feed.js';
import { type EventLog, RedisEventLog } from '../events/event-log.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { consumerName } from '../usage/usage-workers.js';
import { AuditTail } from './audit-tail.js';
import { LOG_SINK_GROUP, LogSink, type LogSinkLog } from './log-sink.js';

/** How often new audit entries are copied into the log stream. */
const AUDIT_TAIL_MS = 5000;
/** Entries kept in the log stream (approximately) for readers that fall behind. */
const LOG_STREAM_MAX = 1_000_000;

/** The log stream request records are appended to; null when logs are not shipped. */
export function openLogStream(redisUrl: string | null, stream: string | null): EventLog | null {
  if (redisUrl === null || stream === null) return null;
  return new RedisEventLog({
    client: connectRedis(redisUrl),
    stream,
    max: LOG_STREAM_MAX,
    ownsConnection: true,
  });
}

export interface LogShippingOptions {
  redisUrl: string;
  stream: string;
  sinkUrl: string | null;
  logs: EventLog;
  tenants: TenantService;
  control: Kysely<unknown>;
  log: LogSinkLog;
}

/**
 * The background half of log shipping: audit entries copied into the stream every few
 * seconds (one instance at a time) and, with a sink, the stream posted to it.
 */
export function startLogShipping(options: LogShippingOptions): { stop(): Promise<void> } {
  const redis = connectRedis(options.redisUrl);
  const tail = new AuditTail({
    tenants: options.tenants,
    control: options.control,
    logs: options.logs,
    redis,
    stream: options.stream,
  });
  let tailing: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    tailing = tail.once().catch((error: unknown) => {
      options.log.warn({ err: error }, 'audit entries not shipped yet');
    });
  }, AUDIT_TAIL_MS);
  timer.unref();
  const sink =
    options.sinkUrl === null
      ? null
      : new LogSink({
          feed: new RedisEventFeed({
            client: connectRedis(options.redisUrl),
            blocking: connectRedis(options.redisUrl),
            stream: options.stream,
            group: LOG_SINK_GROUP,
            claimIdleMs: 30_000,
            ownsConnections: true,
          }),
          url: options.sinkUrl,
          consumer: consumerName(0),
          log: options.log,
        });
  sink?.start();
  return {
    stop: async () => {
      clearInterval(timer);
      await tailing;
      await sink?.stop();
      redis.disconnect();
    },
  };
}

/** Starts log shipping as configured, for a process with services and storage; null: off. */
export function shipperOf(
  env: Pick<EnvConfig, 'redisUrl' | 'logStream' | 'logSinkUrl'>,
  services: { logStream: EventLog | null; tenants: TenantService },
  storage: { control: unknown },
): ((log: LogSinkLog) => { stop(): Promise<void> }) | null {
  const { redisUrl, logStream: stream } = env;
  const logs = services.logStream;
  if (redisUrl === null || stream === null || logs === null) return null;
  return (log) =>
    startLogShipping({
      redisUrl,
      stream,
      sinkUrl: env.logSinkUrl,
      logs,
      tenants: services.tenants,
      control: storage.control as Kysely<unknown>,
      log,
    });
}
