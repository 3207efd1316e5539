import { type ParseArgsConfig, parseArgs } from 'node:util';
import { GatewayError } from '../errors/gateway-error.js';
import { type Actor, SYSTEM_ACTOR } from '../services/audit/audit-log.js';
import type { Tenant, TenantService } from '../services/tenancy/tenant-service.js';

export interface Output {
  line(text: string): void;
}

export const TENANT_USAGE = `Usage:
  llm-backend tenant create <slug> [--name NAME] [--server SERVER]
                                          (SERVER: a name in the config file's database_servers;
                                           default: the control plane's own server)
  llm-backend tenant list [--json]
  llm-backend tenant get <id|slug> [--json]
  llm-backend tenant disable|enable <id|slug>
  llm-backend tenant delete <id|slug>     (exported and dropped after the grace period)
  llm-backend tenant purge                (exports, then drops, tenants deleted long enough ago;
                                           the server also does this every hour)`;

export class UsageError extends Error {}

/** parseArgs, with its complaints about the command line reported as usage errors. */
export function parseCommandArgs<T extends ParseArgsConfig>(
  config: T,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    if (String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError((error as Error).message);
    }
    throw error;
  }
}

function describe(tenant: Tenant): string {
  const server = tenant.server === null ? '' : `  server ${tenant.server}`;
  const deleting = tenant.deleteAfter ? `  drops after ${tenant.deleteAfter.toISOString()}` : '';
  return `${tenant.id}  ${tenant.slug}  ${tenant.status}  ${tenant.name}${server}${deleting}`;
}

function asJson(tenant: Tenant) {
  return {
    id: tenant.id,
    slug: tenant.slug,
    name: tenant.name,
    status: tenant.status,
    server: tenant.server,
    created_at: tenant.createdAt.toISOString(),
    delete_after: tenant.deleteAfter?.toISOString() ?? null,
  };
}

/** `llm-backend tenant ...`: thin over TenantService, so the CLI and the admin API agree. */
export async function runTenantCommand(
  args: string[],
  tenants: TenantService,
  out: Output,
  actor: Actor = SYSTEM_ACTOR,
): Promise<void> {
  const { positionals, values } = parseCommandArgs({
    args,
    allowPositionals: true,
    options: { name: { type: 'string' }, server: { type: 'string' }, json: { type: 'boolean' } },
  });
  const [action, ref] = positionals;
  const needRef = () => {
    if (ref === undefined) throw new UsageError(`'tenant ${action}' needs a tenant id or slug`);
    return ref;
  };
  const print = (tenant: Tenant) =>
    out.line(values.json ? JSON.stringify(asJson(tenant)) : describe(tenant));
  switch (action) {
    case 'create':
      return print(
        await tenants.create(
          { slug: needRef(), name: values.name ?? needRef(), server: values.server },
          actor,
        ),
      );
    case 'list': {
      const all = await tenants.list();
      if (values.json) return out.line(JSON.stringify(all.map(asJson)));
      for (const tenant of all) out.line(describe(tenant));
      return;
    }
    case 'get':
      return print(await tenants.get(needRef()));
    case 'disable':
    case 'enable':
      return print(
        await tenants.setStatus(needRef(), action === 'disable' ? 'disabled' : 'active', actor),
      );
    case 'delete':
      return print(await tenants.delete(needRef(), new Date(), actor));
    case 'purge': {
      const { purged, failed } = await tenants.purge(new Date(), actor);
      if (purged.length === 0 && failed.length === 0) return out.line('nothing to purge');
      if (purged.length > 0) out.line(`purged ${purged.join(', ')}`);
      for (const { id, error } of failed) out.line(`not purged ${id}: ${error}`);
      // A non-zero exit, so a scheduled run's failure is noticed.
      if (failed.length > 0) {
        throw new GatewayError('internal_error', {
          message: `${failed.length} tenant(s) not purged; they stay deleting and the next purge retries them`,
        });
      }
      return;
    }
    default:
      throw new UsageError(
        action === undefined ? 'missing tenant command' : `unknown tenant command '${action}'`,
      );
  }
}

export async function runMigrate(tenants: TenantService, out: Output): Promise<void> {
  out.line('control plane: up to date');
  await tenants.migrateAll((done, total, tenant, applied) =>
    out.line(
      `tenant ${done}/${total} ${tenant.slug}: ${applied.length === 0 ? 'up to date' : `applied ${applied.join(', ')}`}`,
    ),
  );
}
