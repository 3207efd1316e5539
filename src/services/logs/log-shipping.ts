import type { Kysely } from 'kysely';
import type { ControlSchema } from '../../storage/control-schema.js';
import type { RedisCommands } from '../../storage/redis.js';
import type { EventFeed } from '../events/event-feed.js';
import type { EventLog } from '../events/event-log.js';
import type { TenantService } from '../tenancy/tenant-service.js';
import { consumerName } from '../usage/usage-workers.js';
import { AuditTail } from './audit-tail.js';
import { LogSink, type LogSinkLog } from './log-sink.js';

/** How often new audit entries are copied into the log stream. */
const AUDIT_TAIL_MS = 5000;
/** Entries kept in the log stream (approximately) for readers that fall behind. */
export const LOG_STREAM_MAX = 1_000_000;
/**
 * Request records wait up to this long for others and go to the stream in one pipeline: one
 * round trip per batch instead of one per request.
 */
export const LOG_STREAM_BATCH_MS = 50;

export interface LogShippingOptions {
  /** The process's command connection: the audit tail's cursors and lock. */
  redis: RedisCommands;
  stream: string;
  /** The log stream read by the sink's consumer group; null: no sink (LOG_SINK_URL unset). */
  sinkFeed: EventFeed | null;
  sinkUrl: string | null;
  logs: EventLog;
  tenants: TenantService;
  control: Kysely<ControlSchema>;
  log: LogSinkLog;
}

/**
 * The background half of log shipping: audit entries copied into the stream every few
 * seconds (one instance at a time) and, with a sink, the stream posted to it.
 */
export function startLogShipping(options: LogShippingOptions): { stop(): Promise<void> } {
  const { redis } = options;
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
    options.sinkUrl === null || options.sinkFeed === null
      ? null
      : new LogSink({
          feed: options.sinkFeed,
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
    },
  };
}
