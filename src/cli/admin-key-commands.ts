import type { Command } from 'commander';
import { type PlatformKey, platformKeyJson } from '../domain/api-key.js';
import { generateApiKey } from '../domain/key-format.js';
import { type Actor, SYSTEM_ACTOR } from '../services/audit/audit-log.js';
import type { PlatformKeyService } from '../services/keys/platform-key-service.js';
import { expiresOption, graceOption, keyState } from './key-options.js';
import { jsonOption } from './options.js';
import { type CommandContext, commandGroup, given, type Output, runGroup } from './program.js';

interface JsonOptions {
  json?: boolean;
}

function describe(key: PlatformKey): string {
  return `${key.id}  ${key.displayPrefix}...  platform-admin  ${keyState(key)}  ${key.name}`;
}

const ABOUT = `
Platform admin keys create, disable and delete tenants and manage every tenant through the
admin API. The secret is printed once, by create and rotate; store it then. 'generate' only
prints a fresh, well-formed key (nothing is stored), for BOOTSTRAP_ADMIN_KEY.`;

/**
 * `llm-backend admin-key ...`, thin over PlatformKeyService. 'generate' never calls `using`,
 * so it works before the first start, with no database.
 */
export function adminKeyCommand({
  using,
  out,
  actor,
}: CommandContext<PlatformKeyService>): Command {
  const group = commandGroup('admin-key', out)
    .description('Create, list, rotate and revoke platform admin keys; generate one')
    .addHelpText('after', ABOUT);
  const withSecret = ({ key, secret }: { key: PlatformKey; secret: string }, json?: boolean) =>
    out.line(
      json
        ? JSON.stringify({ ...platformKeyJson(key), secret })
        : `${describe(key)}\nsecret (shown once): ${secret}`,
    );
  const keyArg = (command: Command) => command.argument('<key_id>', "The key's id");
  group
    .command('create')
    .description('Create a platform admin key and print its secret once')
    .requiredOption('--name <name>', 'Whose or what the key is for')
    .addOption(expiresOption())
    .addOption(jsonOption())
    .action(({ name, expires, json }: JsonOptions & { name: string; expires?: Date }) =>
      using(async (keys) =>
        withSecret(await keys.create({ name, expiresAt: expires ?? null }, actor), json),
      ),
    );
  group
    .command('list')
    .description('List the platform admin keys, never their secrets')
    .addOption(jsonOption())
    .action(({ json }: JsonOptions) =>
      using(async (keys) => {
        const all = await keys.list();
        if (json) return out.line(JSON.stringify(all.map(platformKeyJson)));
        for (const key of all) out.line(describe(key));
      }),
    );
  keyArg(group.command('rotate').description('Give a key a new secret, printed once'))
    .addOption(graceOption())
    .addOption(jsonOption())
    .action((keyId: string, { graceSeconds, json }: JsonOptions & { graceSeconds: number }) =>
      using(async (keys) =>
        withSecret(await keys.rotate(keyId, graceSeconds, new Date(), actor), json),
      ),
    );
  keyArg(group.command('revoke').description('End a key at once'))
    .addOption(jsonOption())
    .action((keyId: string, { json }: JsonOptions) =>
      using(async (keys) => {
        const key = await keys.revoke(keyId, new Date(), actor);
        out.line(json ? JSON.stringify(platformKeyJson(key)) : describe(key));
      }),
    );
  group
    .command('generate')
    .description('Print a fresh, well-formed key for BOOTSTRAP_ADMIN_KEY; nothing is stored')
    .action(() => out.line(generateApiKey()));
  return group;
}

/** Runs `llm-backend admin-key ...args` in-process. */
export function runAdminKeyCommand(
  args: string[],
  keys: PlatformKeyService,
  out: Output,
  actor: Actor = SYSTEM_ACTOR,
): Promise<void> {
  return runGroup(adminKeyCommand({ using: given(keys), out, actor }), args);
}
