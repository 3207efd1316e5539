#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Kysely } from 'kysely';
import { ADMIN_KEY_USAGE, runAdminKeyCommand } from './cli/admin-key-commands.js';
import { AUDIT_USAGE, runAuditCommand } from './cli/audit-commands.js';
import { KEY_USAGE, runKeyCommand } from './cli/key-commands.js';
import { runSecretsCommand, SECRETS_USAGE } from './cli/secrets-command.js';
import { runMigrate, runTenantCommand, TENANT_USAGE, UsageError } from './cli/tenant-commands.js';
import { runUserCommand, USER_USAGE } from './cli/user-commands.js';
import { runWorker, WORKER_USAGE } from './cli/worker-command.js';
import { compose, type Root } from './composition/root.js';
import { keyRingFor, type Services } from './composition/services.js';
import { ConfigError, loadConfig } from './config/load.js';
import { GatewayError } from './errors/gateway-error.js';
import { closeGracefully, startServer } from './server.js';
import type { Actor } from './services/audit/audit-log.js';
import { WEBHOOK_SECRETS_PURPOSE } from './services/credentials/webhook-rewrap.js';
import { DatabaseUnavailableError } from './storage/database-server.js';
import type { Storage } from './storage/open.js';
import { DirectoryInUseError } from './storage/process-lock.js';

const USAGE = `Usage: llm-backend <command> [--help] [--version]

Commands:
  serve     Start the gateway (HTTP API on HOST:PORT)
  migrate   Bring the control plane and every tenant database to the latest schema
  tenant    Create, list, disable, enable, delete and purge tenants ('tenant --help')
  user      Create, list, update, disable and enable a tenant's users ('user --help')
  key       Create, list, rotate and revoke a tenant's API keys ('key --help')
  admin-key Create, list, rotate and revoke platform admin keys ('admin-key --help')
  audit     List a tenant's or the platform's audit log and verify its hash chain
  secrets   Re-seal stored secrets under a new MASTER_KEY ('secrets --help')
  worker    Write queued usage events to the tenants' databases ('worker --help')
  help      Show this help

Configuration comes from the environment and CONFIG_FILE; see the README.`;

const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string };

async function serve(): Promise<void> {
  const config = loadConfig(process.env);
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

/** Commands that work on the databases compose the process, run, and close it again. */
async function withServices(
  run: (services: Services, storage: Storage, root: Root) => Promise<void>,
): Promise<void> {
  const root = await compose(loadConfig(process.env), { role: 'cli' });
  try {
    await run(root.services, root.storage, root);
  } finally {
    await root.close();
  }
}

/** The audit log's actor for CLI commands: the operating system user who ran them. */
function cliActor(): Actor {
  try {
    return { type: 'cli', id: userInfo().username };
  } catch {
    return { type: 'cli', id: null };
  }
}

const stdout = { line: (text: string) => console.log(text) };

async function main(argv: string[]): Promise<void> {
  const [command = 'help', ...rest] = argv;
  switch (command) {
    case 'serve':
      if (rest.includes('--help') || rest.includes('-h')) return void console.log(USAGE);
      return serve();
    case 'migrate':
      return withServices(({ tenants }) => runMigrate(tenants, stdout));
    case 'tenant':
      if (rest.length === 0 || rest.includes('--help')) {
        console.log(TENANT_USAGE);
        return;
      }
      return withServices(({ tenants }) => runTenantCommand(rest, tenants, stdout, cliActor()));
    case 'key':
      if (rest.length === 0 || rest.includes('--help')) {
        console.log(KEY_USAGE);
        return;
      }
      return withServices(({ keys }) => runKeyCommand(rest, keys, stdout, cliActor()));
    case 'user':
      if (rest.length === 0 || rest.includes('--help')) {
        console.log(USER_USAGE);
        return;
      }
      return withServices(({ users }) => runUserCommand(rest, users, stdout, cliActor()));
    case 'admin-key':
      if (rest.length === 0 || rest.includes('--help')) {
        console.log(ADMIN_KEY_USAGE);
        return;
      }
      // Generating touches no database, so it works before the first start.
      if (rest[0] === 'generate') return runAdminKeyCommand(rest, null, stdout);
      return withServices(({ platformKeys }) =>
        runAdminKeyCommand(rest, platformKeys, stdout, cliActor()),
      );
    case 'audit':
      if (rest.length === 0 || rest.includes('--help')) {
        console.log(AUDIT_USAGE);
        return;
      }
      return withServices(async (services, storage) => {
        const intact = await runAuditCommand(
          rest,
          services,
          storage.control as Kysely<unknown>,
          stdout,
        );
        if (!intact) process.exitCode = 1;
      });
    case 'secrets':
      if (rest.length === 0 || rest.includes('--help')) {
        console.log(SECRETS_USAGE);
        return;
      }
      return withServices(async (services, storage, { config: { env } }) => {
        const complete = await runSecretsCommand(
          rest,
          {
            tenants: services.tenants,
            providerKeys: services.providerKeys,
            webhookRing: keyRingFor(env, WEBHOOK_SECRETS_PURPOSE),
            control: storage.control as Kysely<unknown>,
          },
          stdout,
          cliActor(),
        );
        if (!complete) process.exitCode = 1;
      });
    case 'worker':
      if (rest.includes('--help') || rest.includes('-h')) return void console.log(WORKER_USAGE);
      return runWorker(rest, loadConfig(process.env));
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    case '--version':
    case '-v':
      console.log(version);
      return;
    default:
      if (command.startsWith('-')) {
        throw new UsageError(`Unknown option '${command}'.`);
      }
      throw new UsageError(`Unknown command '${command}'.`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  // A wrong command or flag is the user's mistake: say so without a stack trace.
  if (
    error instanceof UsageError ||
    (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
  ) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (
    error instanceof GatewayError ||
    error instanceof DirectoryInUseError ||
    error instanceof DatabaseUnavailableError
  ) {
    console.error(`Error: ${error.message}`);
    process.exit(1);
  }
  console.error(error);
  process.exit(1);
});
