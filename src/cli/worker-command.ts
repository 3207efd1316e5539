import type { UsageQueue } from '../services/usage/queue.js';
import type { UsageRecords } from '../services/usage/usage-records.js';
import { startUsageWorkers } from '../services/usage/usage-workers.js';
import type { DispatcherLog } from '../services/webhooks/dispatcher.js';
import type { RunningWebhookWorkers } from '../services/webhooks/webhook-workers.js';
import { parseCommandArgs, UsageError } from './tenant-commands.js';

export const WORKER_USAGE = `Usage:
  llm-backend worker                        Write queued usage events to the tenants' databases
                                            (USAGE_WORKERS consumers, at least 1) and deliver
                                            webhooks (WEBHOOK_WORKERS dispatchers) until stopped
  llm-backend worker dead-letters [--limit N] [--json]
                                            Show the usage events set aside as unwritable

Workers read the Redis Stream (REDIS_URL, USAGE_STREAM) and need the same DATABASE_URL,
CONFIG_FILE and MASTER_KEY as the gateway. Run as many as the load needs; SIGTERM finishes
the batch in hand, then stops.`;

export interface WorkerDeps {
  queue: UsageQueue;
  records: UsageRecords;
  count: number;
  hasRedis: boolean;
  /** Starts the webhook dispatchers; null when WEBHOOK_WORKERS is 0. */
  startWebhooks: ((log: DispatcherLog) => Promise<RunningWebhookWorkers>) | null;
  /** Audit entries into the log stream and the stream to its sink; null: logs not shipped. */
  startLogShipping: ((log: DispatcherLog) => { stop(): Promise<void> }) | null;
}

/** JSON lines on stdout, as the gateway's own log. */
const log = {
  write(level: number, details: object, message: string) {
    const line = { level, time: Date.now(), pid: process.pid, ...serialise(details), msg: message };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  },
  info(details: object, message: string) {
    this.write(30, details, message);
  },
  warn(details: object, message: string) {
    this.write(40, details, message);
  },
  error(details: object, message: string) {
    this.write(50, details, message);
  },
};

function serialise(details: object): object {
  const { err, ...rest } = details as { err?: unknown };
  if (err === undefined) return rest;
  return {
    ...rest,
    err: err instanceof Error ? { message: err.message } : { message: String(err) },
  };
}

/** Runs until SIGTERM or SIGINT; resolves once the workers have stopped. */
export async function runWorker(args: string[], deps: WorkerDeps): Promise<void> {
  if (args[0] === 'dead-letters') return showDeadLetters(args.slice(1), deps.queue);
  if (args.length > 0) throw new UsageError(`Unknown worker command '${args[0]}'.`);
  if (!deps.hasRedis)
    throw new UsageError(
      'llm-backend worker needs REDIS_URL: without Redis, the gateway writes usage itself.',
    );
  const warning = await deps.queue.durabilityWarning().catch(() => null);
  if (warning !== null) log.warn({}, warning);
  const count = Math.max(1, deps.count);
  const workers = startUsageWorkers({ queue: deps.queue, records: deps.records, count, log });
  log.info({ workers: count }, 'usage workers started');
  const webhooks = deps.startWebhooks === null ? null : await deps.startWebhooks(log);
  if (webhooks !== null) log.info({}, 'webhook dispatchers started');
  const shipping = deps.startLogShipping?.(log) ?? null;
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'usage workers stopping');
  await workers.stop();
  await webhooks?.stop();
  await shipping?.stop();
  log.info({}, 'usage workers stopped');
}

async function showDeadLetters(args: string[], queue: UsageQueue): Promise<void> {
  const { values } = parseCommandArgs({
    args,
    options: {
      limit: { type: 'string', default: '20' },
      json: { type: 'boolean', default: false },
    },
  });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
    throw new UsageError('--limit must be a whole number from 1 to 10000');
  const letters = await queue.deadLetters(limit);
  for (const letter of letters) {
    if (values.json) {
      console.log(JSON.stringify({ ...letter, at: letter.at.toISOString() }));
      continue;
    }
    console.log(
      `${letter.at.toISOString()}  ${letter.id}  attempts ${letter.attempts}  ${letter.reason}\n  ${letter.raw}`,
    );
  }
  if (letters.length === 0 && !values.json) console.log('No dead letters.');
}
