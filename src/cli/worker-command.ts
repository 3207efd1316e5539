import type { Command } from 'commander';
import { compose } from '../composition/root.js';
import { type OpsServer, startOpsServer } from '../composition/worker-ops.js';
import type { AppConfig } from '../config/load.js';
import type { UsageQueue } from '../services/usage/queue.js';
import { jsonOption, wholeNumber } from './options.js';
import { cliCommand, type Output } from './program.js';

const ABOUT = `
Without a command, writes queued usage events to the tenants' databases (USAGE_WORKERS
consumers, at least 1) and delivers webhooks (WEBHOOK_WORKERS dispatchers) until stopped.
Workers read the Redis Stream (REDIS_URL, USAGE_STREAM) and need the same DATABASE_URL,
CONFIG_FILE and MASTER_KEY as the gateway. Run as many as the load needs; SIGTERM finishes
the batch in hand, then stops.`;

/** Runs until SIGTERM or SIGINT; resolves once the workers have stopped. */
async function runWorker(config: AppConfig, refuse: (message: string) => never): Promise<void> {
  // The databases first: a missing one is the first thing to fix, whatever else is wrong.
  const root = await compose(config, { role: 'worker' });
  const { log } = root;
  let ops: OpsServer | null = null;
  try {
    if (config.env.redisUrl === null)
      refuse('needs REDIS_URL: without Redis, the gateway writes usage itself.');
    await root.startBackground();
    const { opsPort, host } = config.env;
    if (opsPort !== null) {
      ops = await startOpsServer(root, { port: opsPort, host });
      log.info({ host, port: ops.port }, 'operations endpoints listening');
    }
    log.info({ workers: Math.max(1, config.env.usageWorkers) }, 'usage workers started');
    if (config.env.webhookWorkers > 0) log.info({}, 'webhook dispatchers started');
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    log.info({ signal }, 'usage workers stopping');
  } finally {
    await ops?.close();
    await root.close();
  }
  log.info({}, 'usage workers stopped');
}

async function showDeadLetters(
  queue: UsageQueue,
  out: Output,
  { limit, json }: { limit: number; json?: boolean },
): Promise<void> {
  const letters = await queue.deadLetters(limit);
  for (const letter of letters) {
    if (json) {
      out.line(JSON.stringify({ ...letter, at: letter.at.toISOString() }));
      continue;
    }
    out.line(
      `${letter.at.toISOString()}  ${letter.id}  attempts ${letter.attempts}  ${letter.reason}\n  ${letter.raw}`,
    );
  }
  if (letters.length === 0 && !json) out.line('No dead letters.');
}

/**
 * `llm-backend worker [dead-letters]`. The configuration is loaded only when an action runs,
 * so `--help` works without a valid environment.
 */
export function workerCommand(loadConfig: () => AppConfig, out: Output): Command {
  const worker = cliCommand('worker', out)
    .description("Write queued usage events to the tenants' databases and deliver webhooks")
    .addHelpText('after', ABOUT);
  worker
    .command('dead-letters')
    .description('Show the usage events set aside as unwritable')
    .option('--limit <n>', 'At most this many', wholeNumber(1, 10_000), 20)
    .addOption(jsonOption())
    .action(async (options: { limit: number; json?: boolean }) => {
      const root = await compose(loadConfig(), { role: 'cli' });
      try {
        await showDeadLetters(root.services.usageQueue, out, options);
      } finally {
        await root.close();
      }
    });
  // Operands reach the action rather than being refused as 'too many arguments', so the
  // message names the unknown command. Set after dead-letters, which must not inherit it.
  return worker.allowExcessArguments().action(function (this: Command) {
    if (this.args.length > 0) this.error(`unknown command '${this.args[0]}'`);
    return runWorker(loadConfig(), (message) => this.error(message));
  });
}
