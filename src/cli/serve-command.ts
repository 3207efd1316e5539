import type { Command } from 'commander';
import type { AppConfig } from '../config/load.js';
import { closeGracefully, startServer } from '../server.js';
import { cliCommand, type Output } from './program.js';

async function serve(config: AppConfig): Promise<void> {
  const { app, firstStart } = await startServer(config);
  // Printed, never logged: log lines are collected and kept, these are shown once.
  if (firstStart.platformAdminKey !== null) {
    process.stdout.write(
      `\nFirst start: created a platform admin key (manages tenants; shown once, store it now):\n\n  ${firstStart.platformAdminKey}\n`,
    );
  }
  if (firstStart.defaultTenantKey !== null) {
    process.stdout.write(
      `\nCreated tenant 'default' and its owner API key (calls /v1; shown once, store it now):\n\n  ${firstStart.defaultTenantKey}\n\n`,
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      app.log.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    stopping = true;
    app.log.info({ signal, graceMs: config.env.shutdownGraceMs }, 'shutting down');
    closeGracefully(app, config.env.shutdownGraceMs).then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/**
 * `llm-backend serve`. The configuration is loaded only when the action runs, so `--help`
 * works without a valid environment.
 */
export function serveCommand(loadConfig: () => AppConfig, out: Output): Command {
  return cliCommand('serve', out)
    .description('Start the gateway (HTTP API on HOST:PORT)')
    .action(() => serve(loadConfig()));
}
