#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config/load.js';
import { closeGracefully, startServer } from './server.js';

const USAGE = `Usage: llm-backend <command> [--help] [--version]

Commands:
  serve     Start the gateway (HTTP API on HOST:PORT)
  help      Show this help

Configuration comes from the environment and CONFIG_FILE; see the README.`;

const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string };

async function serve(): Promise<void> {
  const config = loadConfig(process.env);
  const app = await startServer(config);
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

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
  });
  if (values.version) {
    console.log(version);
    return;
  }
  const command = values.help ? 'help' : (positionals[0] ?? 'help');
  switch (command) {
    case 'serve':
      return serve();
    case 'help':
      console.log(USAGE);
      return;
    default:
      console.error(`Unknown command '${command}'.\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  // A wrong flag is the user's mistake: say so without a stack trace.
  if ((error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  console.error(error);
  process.exit(1);
});
