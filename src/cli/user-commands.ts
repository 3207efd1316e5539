import { type Actor, SYSTEM_ACTOR } from '../services/audit/audit-log.js';
import type { User, UserService } from '../services/tenancy/user-service.js';
import type { TenantRole } from '../storage/tenant-schema.js';
import { type Output, parseCommandArgs, UsageError } from './tenant-commands.js';

export const USER_USAGE = `Usage:
  llm-backend user create <tenant> --email EMAIL --name NAME [--role member] [--json]
  llm-backend user list <tenant> [--json]
  llm-backend user get <tenant> <user_id> [--json]
  llm-backend user update <tenant> <user_id> [--name NAME] [--role ROLE]
  llm-backend user disable|enable <tenant> <user_id>

Roles: owner, admin, member, viewer, billing. Disabling a user stops its keys at once.`;

function describe(user: User): string {
  return `${user.id}  ${user.email}  ${user.role}  ${user.status}  ${user.name}`;
}

function asJson(user: User) {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    status: user.status,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
  };
}

/** `llm-backend user ...`, thin over UserService, which validates every field. */
export async function runUserCommand(
  args: string[],
  users: UserService,
  out: Output,
  actor: Actor = SYSTEM_ACTOR,
): Promise<void> {
  const { positionals, values } = parseCommandArgs({
    args,
    allowPositionals: true,
    options: {
      email: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const [action, tenant, userId] = positionals;
  if (tenant === undefined)
    throw new UsageError(action ? `'user ${action}' needs a tenant` : 'missing user command');
  const needUser = () => {
    if (userId === undefined) throw new UsageError(`'user ${action}' needs a user id`);
    return userId;
  };
  const show = (user: User) =>
    out.line(values.json ? JSON.stringify(asJson(user)) : describe(user));
  const role = values.role as TenantRole | undefined;
  switch (action) {
    case 'create':
      if (!values.email || !values.name)
        throw new UsageError("'user create' needs --email and --name");
      return show(
        await users.create(
          tenant,
          { email: values.email, name: values.name, role: role ?? 'member' },
          actor,
        ),
      );
    case 'list': {
      const all = await users.list(tenant);
      if (values.json) return out.line(JSON.stringify(all.map(asJson)));
      for (const user of all) out.line(describe(user));
      return;
    }
    case 'get':
      return show(await users.get(tenant, needUser()));
    case 'update':
      if (values.name === undefined && role === undefined)
        throw new UsageError("'user update' needs --name or --role");
      return show(await users.update(tenant, needUser(), { name: values.name, role }, actor));
    case 'disable':
    case 'enable':
      return show(
        await users.setStatus(
          tenant,
          needUser(),
          action === 'disable' ? 'disabled' : 'active',
          actor,
        ),
      );
    default:
      throw new UsageError(`unknown user command '${action}'`);
  }
}
