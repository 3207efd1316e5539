import { compose } from '../composition/root.js';
import type { AppConfig } from '../config/load.js';
import type { UsageQueue } from '../services/usage/queue.js';
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

/** Runs until SIGTERM or SIGINT; resolves once the workers have stopped. */
export async function runWorker(args: string[], config: AppConfig): Promise<void> {
  if (args[0] === 'dead-letters') {
    const root = await compose(config, { role: 'cli' });
    try {
      return await showDeadLetters(args.slice(1), root.services.usageQueue);
    } finally {
      await root.close();
    }
  }
  if (args.length > 0) throw new UsageError(`Unknown worker command '${args[0]}'.`);
  // The databases first: a missing one is the first thing to fix, whatever else is wrong.
  const root = await compose(config, { role: 'worker' });
  const { log } = root;
  try {
    if (config.env.redisUrl === null)
      throw new UsageError(
        'llm-backend worker needs REDIS_URL: without Redis, the gateway writes usage itself.',
      );
    await root.startBackground();
    log.info({ workers: Math.max(1, config.env.usageWorkers) }, 'usage workers started');
    if (config.env.webhookWorkers > 0) log.info({}, 'webhook dispatchers started');
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    log.info({ signal }, 'usage workers stopping');
  } finally {
    await root.close();
  }
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
