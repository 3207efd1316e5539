import type { Command } from 'commander';
import { type ApiKey, apiKeyJson } from '../domain/api-key.js';
import type { TenantRole } from '../domain/roles.js';
import { type Actor, SYSTEM_ACTOR } from '../services/audit/audit-log.js';
import type { KeyService } from '../services/keys/key-service.js';
import { expiresOption, graceOption, keyState } from './key-options.js';
import { commaList, jsonOption, roleOption } from './options.js';
import { type CommandContext, commandGroup, given, type Output, runGroup } from './program.js';

interface JsonOptions {
  json?: boolean;
}

/** `--name` is required and `--role` defaults: commander guarantees both. */
interface CreateOptions extends JsonOptions {
  name: string;
  role: TenantRole;
  user?: string;
  models?: string[];
  expires?: Date;
}

function describe(key: ApiKey): string {
  return `${key.id}  ${key.displayPrefix}...  ${key.role}  ${keyState(key)}  ${key.name}`;
}

function asJson(key: ApiKey, secret?: string) {
  return { ...apiKeyJson(key), ...(secret !== undefined && { secret }) };
}

type WithSecret = (made: { key: ApiKey; secret: string }, options: JsonOptions) => void;

const tenantArgument = (command: Command) =>
  command.argument('<tenant>', "The tenant's id or slug");
const keyArgs = (command: Command) => tenantArgument(command).argument('<key_id>', "The key's id");

function declareCreate(
  group: Command,
  { using, actor }: CommandContext<KeyService>,
  withSecret: WithSecret,
): void {
  tenantArgument(group.command('create').description('Create a key and print its secret once'))
    .requiredOption('--name <name>', 'What the key is for')
    .addOption(roleOption('member'))
    .option('--user <user_id>', 'The user the key belongs to')
    .option(
      '--models <a,b>',
      'The only models the key may use (default: no limit of its own)',
      commaList,
    )
    .addOption(expiresOption())
    .addOption(jsonOption())
    .action((tenant: string, options: CreateOptions) =>
      using(async (keys) => {
        const { name, role, user = null, models = [], expires = null } = options;
        const allowedModels = models.length > 0 ? models : null;
        const input = { name, role, userId: user, allowedModels, expiresAt: expires };
        withSecret(await keys.create(tenant, input, actor), options);
      }),
    );
}

/** `llm-backend key ...`, thin over KeyService. */
export function keyCommand({ using, out, actor }: CommandContext<KeyService>): Command {
  const group = commandGroup('key', out)
    .description("Create, list, rotate and revoke a tenant's API keys")
    .addHelpText('after', '\nThe secret is printed once, by create and rotate; store it then.');
  const withSecret: WithSecret = ({ key, secret }, { json }) =>
    out.line(
      json
        ? JSON.stringify(asJson(key, secret))
        : `${describe(key)}\nsecret (shown once): ${secret}`,
    );
  declareCreate(group, { using, out, actor }, withSecret);
  tenantArgument(group.command('list').description("List a tenant's keys, never their secrets"))
    .addOption(jsonOption())
    .action((tenant: string, { json }: JsonOptions) =>
      using(async (keys) => {
        const all = await keys.list(tenant);
        if (json) return out.line(JSON.stringify(all.map((key) => asJson(key))));
        for (const key of all) out.line(describe(key));
      }),
    );
  keyArgs(group.command('rotate').description('Give a key a new secret, printed once'))
    .addOption(graceOption())
    .addOption(jsonOption())
    .action((tenant: string, keyId: string, options: JsonOptions & { graceSeconds: number }) =>
      using(async (keys) =>
        withSecret(
          await keys.rotate(tenant, keyId, options.graceSeconds, new Date(), actor),
          options,
        ),
      ),
    );
  keyArgs(group.command('revoke').description('End a key, old and new secrets alike, at once'))
    .addOption(jsonOption())
    .action((tenant: string, keyId: string, { json }: JsonOptions) =>
      using(async (keys) => {
        const key = await keys.revoke(tenant, keyId, new Date(), actor);
        out.line(json ? JSON.stringify(asJson(key)) : describe(key));
      }),
    );
  return group;
}

/** Runs `llm-backend key ...args` in-process. */
export function runKeyCommand(
  args: string[],
  keys: KeyService,
  out: Output,
  actor: Actor = SYSTEM_ACTOR,
): Promise<void> {
  return runGroup(keyCommand({ using: given(keys), out, actor }), args);
}
