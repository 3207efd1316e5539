import { type PlatformKey, platformKeyJson } from '../domain/api-key.js';
import { generateApiKey } from '../domain/key-format.js';
import { type Actor, SYSTEM_ACTOR } from '../services/audit/audit-log.js';
import type { PlatformKeyService } from '../services/keys/platform-key-service.js';
import { expiryOption, graceOption, keyState } from './key-options.js';
import { type Output, parseCommandArgs, UsageError } from './tenant-commands.js';

export const ADMIN_KEY_USAGE = `Usage:
  llm-backend admin-key create --name NAME [--expires 2027-01-01T00:00:00Z] [--json]
  llm-backend admin-key list [--json]
  llm-backend admin-key rotate <key_id> [--grace-seconds 3600] [--json]
  llm-backend admin-key revoke <key_id>
  llm-backend admin-key generate

Platform admin keys create, disable and delete tenants and manage every tenant through the
admin API. The secret is printed once, by create and rotate; store it then. 'generate' only
prints a fresh, well-formed key (nothing is stored), for BOOTSTRAP_ADMIN_KEY.`;

function describe(key: PlatformKey): string {
  return `${key.id}  ${key.displayPrefix}...  platform-admin  ${keyState(key)}  ${key.name}`;
}

/**
 * `llm-backend admin-key ...`, thin over PlatformKeyService; `service` is null only for
 * 'generate', which needs no database.
 */
export async function runAdminKeyCommand(
  args: string[],
  service: PlatformKeyService | null,
  out: Output,
  actor: Actor = SYSTEM_ACTOR,
): Promise<void> {
  const { positionals, values } = parseCommandArgs({
    args,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      expires: { type: 'string' },
      'grace-seconds': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const [action, keyId] = positionals;
  const keys = (): PlatformKeyService => {
    if (service === null) throw new Error(`'admin-key ${action}' needs the databases`);
    return service;
  };
  const needKey = () => {
    if (keyId === undefined) throw new UsageError(`'admin-key ${action}' needs a key id`);
    return keyId;
  };
  const withSecret = ({ key, secret }: { key: PlatformKey; secret: string }) =>
    out.line(
      values.json
        ? JSON.stringify({ ...platformKeyJson(key), secret })
        : `${describe(key)}\nsecret (shown once): ${secret}`,
    );
  switch (action) {
    case 'create': {
      if (!values.name) throw new UsageError("'admin-key create' needs --name");
      const expiresAt = expiryOption(values.expires);
      return withSecret(await keys().create({ name: values.name, expiresAt }, actor));
    }
    case 'list': {
      const all = await keys().list();
      if (values.json) return out.line(JSON.stringify(all.map(platformKeyJson)));
      for (const key of all) out.line(describe(key));
      return;
    }
    case 'rotate': {
      return withSecret(
        await keys().rotate(needKey(), graceOption(values['grace-seconds']), new Date(), actor),
      );
    }
    case 'revoke':
      return out.line(describe(await keys().revoke(needKey(), new Date(), actor)));
    case 'generate':
      return out.line(generateApiKey());
    default:
      throw new UsageError(
        action === undefined
          ? 'missing admin-key command'
          : `unknown admin-key command '${action}'`,
      );
  }
}
