import type { Command } from 'commander';
import { type Tenant, tenantJson } from '../domain/tenant.js';
import { GatewayError } from '../errors/gateway-error.js';
import { type Actor, SYSTEM_ACTOR } from '../services/audit/audit-log.js';
import type { TenantService } from '../services/tenancy/tenant-service.js';
import { jsonOption, wholeNumber } from './options.js';
import {
  type CommandContext,
  cliCommand,
  commandGroup,
  given,
  type Output,
  runGroup,
  type Using,
} from './program.js';
import { moveCommand } from './tenant-move-command.js';

interface JsonOptions {
  json?: boolean;
}

interface CreateOptions extends JsonOptions {
  name?: string;
  server?: string;
}

const STATUS_CHANGE = {
  disable: 'Disable a tenant: its keys stop working at once',
  enable: 'Enable a disabled tenant again',
};

function describe(tenant: Tenant): string {
  const server = tenant.server === null ? '' : `  server ${tenant.server}`;
  const deleting = tenant.deleteAfter ? `  drops after ${tenant.deleteAfter.toISOString()}` : '';
  return `${tenant.id}  ${tenant.slug}  ${tenant.status}  ${tenant.name}${server}${deleting}`;
}

async function purge(tenants: TenantService, out: Output, actor: Actor): Promise<void> {
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
}

type Print = (tenant: Tenant, options: JsonOptions) => void;

const tenantArgument = (command: Command) =>
  command.argument('<tenant>', "The tenant's id or slug");

/** disable, enable, delete and purge. */
function lifecycleCommands(
  group: Command,
  { using, out, actor }: CommandContext<TenantService>,
  print: Print,
): void {
  for (const [action, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    tenantArgument(group.command(action).description(STATUS_CHANGE[action]))
      .addOption(jsonOption())
      .action((tenant: string, options: JsonOptions) =>
        using(async (tenants) => print(await tenants.setStatus(tenant, status, actor), options)),
      );
  }
  tenantArgument(
    group
      .command('delete')
      .description('Delete a tenant: exported and dropped after the grace period'),
  )
    .addOption(jsonOption())
    .action((tenant: string, options: JsonOptions) =>
      using(async (tenants) => print(await tenants.delete(tenant, new Date(), actor), options)),
    );
  group
    .command('purge')
    .description(
      'Export, then drop, the tenants deleted long enough ago (the server also does this every hour)',
    )
    .action(() => using((tenants) => purge(tenants, out, actor)));
}

/** `llm-backend tenant ...`: thin over TenantService, so the CLI and the admin API agree. */
export function tenantCommand({ using, out, actor }: CommandContext<TenantService>): Command {
  const group = commandGroup('tenant', out).description(
    'Create, list, get, move, disable, enable, delete and purge tenants',
  );
  const print: Print = (tenant, { json }) =>
    out.line(json ? JSON.stringify(tenantJson(tenant)) : describe(tenant));
  group
    .command('create')
    .description('Create a tenant and its own database')
    .argument('<slug>', '2 to 63 of a-z, 0-9 and -')
    .option('--name <name>', 'Its display name (default: the slug)')
    .option(
      '--server <server>',
      "A name in the config file's database_servers (default: the control plane's own server)",
    )
    .addOption(jsonOption())
    .action((slug: string, options: CreateOptions) =>
      using(async (tenants) => {
        const { name = slug, server } = options;
        print(await tenants.create({ slug, name, server }, actor), options);
      }),
    );
  group
    .command('list')
    .description('List every tenant')
    .addOption(jsonOption())
    .action(({ json }: JsonOptions) =>
      using(async (tenants) => {
        const all = await tenants.list();
        if (json) return out.line(JSON.stringify(all.map(tenantJson)));
        for (const tenant of all) out.line(describe(tenant));
      }),
    );
  tenantArgument(group.command('get').description('Show a tenant'))
    .addOption(jsonOption())
    .action((tenant: string, options: JsonOptions) =>
      using(async (tenants) => print(await tenants.get(tenant), options)),
    );
  moveCommand(group, { using, out, actor });
  lifecycleCommands(group, { using, out, actor }, print);
  return group;
}

/** Runs `llm-backend tenant ...args` in-process. */
export function runTenantCommand(
  args: string[],
  tenants: TenantService,
  out: Output,
  actor: Actor = SYSTEM_ACTOR,
): Promise<void> {
  return runGroup(tenantCommand({ using: given(tenants), out, actor }), args);
}

export async function runMigrate(
  tenants: TenantService,
  out: Output,
  concurrency = 1,
): Promise<void> {
  out.line('control plane: up to date');
  await tenants.migrateAll(
    (done, total, tenant, applied) =>
      out.line(
        `tenant ${done}/${total} ${tenant.slug}: ${applied.length === 0 ? 'up to date' : `applied ${applied.join(', ')}`}`,
      ),
    concurrency,
  );
}

/** `llm-backend migrate`: composing the process migrates the control plane, then the tenants. */
export function migrateCommand(using: Using<TenantService>, out: Output): Command {
  return cliCommand('migrate', out)
    .description('Bring the control plane and every tenant database to the latest schema')
    .option(
      '--concurrency <n>',
      'Tenant databases migrated at once (1 to 64)',
      wholeNumber(1, 64),
      1,
    )
    .action(({ concurrency }: { concurrency: number }) =>
      using((tenants) => runMigrate(tenants, out, concurrency)),
    );
}
