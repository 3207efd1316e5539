import type { Http2SecureServer } from 'node:http2';
import type { Command } from 'commander';
import type { AppConfig } from '../config/load.js';
import { reloadCertificate } from '../plugins/tls.js';
import { closeGracefully, startServer } from '../server.js';
import { handOverFirstStartKeys } from './first-start-keys.js';
import { cliCommand, type Output } from './program.js';

async function serve(config: AppConfig): Promise<void> {
  const { app, firstStart } = await startServer(config);
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
  const { tls } = config.env;
  // A renewed certificate is taken without a restart: new handshakes get it, open
  // connections and their streams go on with the old one. Without TLS, SIGHUP is ignored
  // rather than ending the process.
  process.on('SIGHUP', () => {
    if (tls === null) app.log.info('SIGHUP ignored: no TLS certificate to reload');
    else reloadCertificate(app.server as unknown as Http2SecureServer, tls, app.log);
  });
  await handOverFirstStartKeys(firstStart, {
    dataDir: config.env.dataDir,
    log: app.log,
    terminal: process.stderr.isTTY ? process.stderr : null,
  });
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
