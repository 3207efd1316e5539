import { type ApiKey, apiKeyJson } from '../domain/api-key.js';
import { type Actor, SYSTEM_ACTOR } from '../services/audit/audit-log.js';
import type { KeyService } from '../services/keys/key-service.js';
import type { TenantRole } from '../storage/tenant-schema.js';
import { expiryOption, graceOption, keyState } from './key-options.js';
import { type Output, parseCommandArgs, UsageError } from './tenant-commands.js';

export const KEY_USAGE = `Usage:
  llm-backend key create <tenant> --name NAME [--role member] [--user USER_ID]
                         [--models a,b] [--expires 2027-01-01T00:00:00Z] [--json]
  llm-backend key list <tenant> [--json]
  llm-backend key rotate <tenant> <key_id> [--grace-seconds 3600] [--json]
  llm-backend key revoke <tenant> <key_id>

The secret is printed once, by create and rotate; store it then.`;

const ROLES: readonly TenantRole[] = ['owner', 'admin', 'member', 'viewer', 'billing'];

function describe(key: ApiKey): string {
  return `${key.id}  ${key.displayPrefix}...  ${key.role}  ${keyState(key)}  ${key.name}`;
}

function asJson(key: ApiKey, secret?: string) {
  return { ...apiKeyJson(key), ...(secret !== undefined && { secret }) };
}

function role(value: string | undefined): TenantRole {
  if (value === undefined) return 'member';
  if (!ROLES.includes(value as TenantRole))
    throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
  return value as TenantRole;
}

/** `llm-backend key ...`, thin over KeyService. */
export async function runKeyCommand(
  args: string[],
  keys: KeyService,
  out: Output,
  actor: Actor = SYSTEM_ACTOR,
): Promise<void> {
  const { positionals, values } = parseCommandArgs({
    args,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      role: { type: 'string' },
      user: { type: 'string' },
      models: { type: 'string' },
      expires: { type: 'string' },
      'grace-seconds': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const [action, tenant, keyId] = positionals;
  if (tenant === undefined)
    throw new UsageError(action ? `'key ${action}' needs a tenant` : 'missing key command');
  const needKey = () => {
    if (keyId === undefined) throw new UsageError(`'key ${action}' needs a key id`);
    return keyId;
  };
  const withSecret = ({ key, secret }: { key: ApiKey; secret: string }) =>
    out.line(
      values.json
        ? JSON.stringify(asJson(key, secret))
        : `${describe(key)}\nsecret (shown once): ${secret}`,
    );
  switch (action) {
    case 'create': {
      if (!values.name) throw new UsageError("'key create' needs --name");
      const models = values.models
        ?.split(',')
        .map((model) => model.trim())
        .filter(Boolean);
      return withSecret(
        await keys.create(
          tenant,
          {
            name: values.name,
            role: role(values.role),
            userId: values.user ?? null,
            allowedModels: models && models.length > 0 ? models : null,
            expiresAt: expiryOption(values.expires),
          },
          actor,
        ),
      );
    }
    case 'list': {
      const all = await keys.list(tenant);
      if (values.json) return out.line(JSON.stringify(all.map((key) => asJson(key))));
      for (const key of all) out.line(describe(key));
      return;
    }
    case 'rotate': {
      const grace = graceOption(values['grace-seconds']);
      return withSecret(await keys.rotate(tenant, needKey(), grace, new Date(), actor));
    }
    case 'revoke':
      return out.line(describe(await keys.revoke(tenant, needKey(), new Date(), actor)));
    default:
      throw new UsageError(`unknown key command '${action}'`);
  }
}
