import type { Command } from 'commander';
import type { TenantRole } from '../domain/roles.js';
import { type User, userJson } from '../domain/user.js';
import { type Actor, SYSTEM_ACTOR } from '../services/audit/audit-log.js';
import type { UserService } from '../services/tenancy/user-service.js';
import { jsonOption, roleOption } from './options.js';
import { type CommandContext, commandGroup, given, type Output, runGroup } from './program.js';

interface JsonOptions {
  json?: boolean;
}

/** Both required, and the role defaults: commander guarantees all three. */
interface CreateOptions extends JsonOptions {
  email: string;
  name: string;
  role: TenantRole;
}

interface UpdateOptions extends JsonOptions {
  name?: string;
  role?: TenantRole;
}

const STATUS_CHANGE = {
  disable: 'Disable a user: its keys stop working at once',
  enable: 'Enable a disabled user again',
};

function describe(user: User): string {
  return `${user.id}  ${user.email}  ${user.role}  ${user.status}  ${user.name}`;
}

const tenantArg = (command: Command) => command.argument('<tenant>', "The tenant's id or slug");
const userArgs = (command: Command) => tenantArg(command).argument('<user_id>', "The user's id");

/** `llm-backend user ...`, thin over UserService, which validates every field. */
export function userCommand({ using, out, actor }: CommandContext<UserService>): Command {
  const group = commandGroup('user', out)
    .description("Create, list, get, update, disable and enable a tenant's users")
    .addHelpText('after', '\nDisabling a user stops its keys at once.');
  const show = (user: User, { json }: JsonOptions) =>
    out.line(json ? JSON.stringify(userJson(user)) : describe(user));
  tenantArg(group.command('create').description('Add a user to a tenant'))
    .requiredOption('--email <email>', 'Its email address, unique in the tenant')
    .requiredOption('--name <name>', 'Its name')
    .addOption(roleOption('member'))
    .addOption(jsonOption())
    .action((tenant: string, { email, name, role, json }: CreateOptions) =>
      using(async (users) =>
        show(await users.create(tenant, { email, name, role }, actor), { json }),
      ),
    );
  tenantArg(group.command('list').description("List a tenant's users"))
    .addOption(jsonOption())
    .action((tenant: string, { json }: JsonOptions) =>
      using(async (users) => {
        const all = await users.list(tenant);
        if (json) return out.line(JSON.stringify(all.map(userJson)));
        for (const user of all) out.line(describe(user));
      }),
    );
  userArgs(group.command('get').description('Show a user'))
    .addOption(jsonOption())
    .action((tenant: string, userId: string, options: JsonOptions) =>
      using(async (users) => show(await users.get(tenant, userId), options)),
    );
  userArgs(group.command('update').description("Change a user's name or role"))
    .option('--name <name>', 'Its new name')
    .addOption(roleOption())
    .addOption(jsonOption())
    .action(function (this: Command, tenant: string, userId: string, options: UpdateOptions) {
      const { name, role } = options;
      if (name === undefined && role === undefined) this.error('needs --name or --role');
      return using(async (users) =>
        show(await users.update(tenant, userId, { name, role }, actor), options),
      );
    });
  for (const [action, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    userArgs(group.command(action).description(STATUS_CHANGE[action]))
      .addOption(jsonOption())
      .action((tenant: string, userId: string, options: JsonOptions) =>
        using(async (users) => show(await users.setStatus(tenant, userId, status, actor), options)),
      );
  }
  return group;
}

/** Runs `llm-backend user ...args` in-process. */
export function runUserCommand(
  args: string[],
  users: UserService,
  out: Output,
  actor: Actor = SYSTEM_ACTOR,
): Promise<void> {
  return runGroup(userCommand({ using: given(users), out, actor }), args);
}
