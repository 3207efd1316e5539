#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Kysely } from 'kysely';
import { adminKeyCommand } from './cli/admin-key-commands.js';
import { auditCommand } from './cli/audit-commands.js';
import { billingCommand } from './cli/billing-commands.js';
import { keyCommand } from './cli/key-commands.js';
import { CliCommand, isHelpExit, type Output, UsageError, type Using } from './cli/program.js';
import { secretsCommand } from './cli/secrets-command.js';
import { serveCommand } from './cli/serve-command.js';
import { migrateCommand, tenantCommand } from './cli/tenant-commands.js';
import { userCommand } from './cli/user-commands.js';
import { workerCommand } from './cli/worker-command.js';
import { compose, type Root } from './composition/root.js';
import { keyRingFor } from './composition/services.js';
import { ConfigError, loadConfig } from './config/load.js';
import { GatewayError } from './errors/gateway-error.js';
import type { Actor } from './services/audit/audit-log.js';
import { WEBHOOK_SECRETS_PURPOSE } from './services/credentials/webhook-rewrap.js';
import { DatabaseUnavailableError } from './storage/database-server.js';
import { DirectoryInUseError } from './storage/process-lock.js';

const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string };

const config = () => loadConfig(process.env);

/**
 * Commands that work on the databases compose the process when their action runs (never
 * for --help or a bad command line), run, and close it again.
 */
function composed<S>(pick: (root: Root) => S): Using<S> {
  return async (work) => {
    const root = await compose(config(), { role: 'cli' });
    try {
      return await work(pick(root));
    } finally {
      await root.close();
    }
  };
}

/** The audit log's actor for CLI commands: the operating system user who ran them. */
function cliActor(): Actor {
  try {
    return { type: 'cli', id: userInfo().username };
  } catch {
    return { type: 'cli', id: null };
  }
}

/** A verification that failed is not an error to print: the output says what failed. */
const exitOneUnless = (ok: boolean) => {
  if (!ok) process.exitCode = 1;
};

function program(): CliCommand {
  const out: Output = { line: (text) => console.log(text) };
  const actor = cliActor();
  const control = (root: Root) => root.storage.control as Kysely<unknown>;
  return (
    new CliCommand('llm-backend')
      .usage('<command> [options]')
      .version(version, '-v, --version', 'Print the version')
      .helpCommand('help [command]', "Show this help, or a command's")
      .addHelpText(
        'after',
        '\nConfiguration comes from the environment and CONFIG_FILE; see the README.',
      )
      // Options after a command are that command's: `tenant list -v` is an unknown option.
      .enablePositionalOptions()
      .addCommand(serveCommand(config, out))
      .addCommand(
        migrateCommand(
          composed((root) => root.services.tenants),
          out,
        ),
      )
      .addCommand(tenantCommand({ using: composed((root) => root.services.tenants), out, actor }))
      .addCommand(userCommand({ using: composed((root) => root.services.users), out, actor }))
      .addCommand(keyCommand({ using: composed((root) => root.services.keys), out, actor }))
      .addCommand(
        adminKeyCommand({ using: composed((root) => root.services.platformKeys), out, actor }),
      )
      .addCommand(
        auditCommand({
          using: composed((root) => ({ audit: root.services.audit })),
          out,
          outcome: exitOneUnless,
        }),
      )
      .addCommand(
        billingCommand({
          using: composed((root) => ({
            tenants: root.services.tenants,
            invoices: root.services.invoices,
          })),
          out,
          actor,
          outcome: exitOneUnless,
        }),
      )
      .addCommand(
        secretsCommand({
          using: composed((root) => ({
            tenants: root.services.tenants,
            providerKeys: root.services.providerKeys,
            webhookRing: keyRingFor(root.config.env, WEBHOOK_SECRETS_PURPOSE),
            control: control(root),
          })),
          out,
          actor,
          outcome: exitOneUnless,
        }),
      )
      .addCommand(workerCommand(config, out)) as CliCommand
  );
}

function fail(error: unknown): never {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  // A wrong command or option is the user's mistake: say so on one line, with where that
  // command's help is, and no stack trace.
  if (error instanceof UsageError) {
    console.error(`${error.command}: ${error.message}\nSee '${error.command} --help'.`);
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
}

program()
  .parseAsync(process.argv.slice(2), { from: 'user' })
  .catch((error: unknown) => {
    // Help and --version end the parse by throwing (exitOverride); they succeeded.
    if (isHelpExit(error)) return;
    fail(error);
  });
