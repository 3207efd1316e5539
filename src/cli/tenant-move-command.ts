import type { Command } from 'commander';
import { tenantJson } from '../domain/tenant.js';
import type { TenantService } from '../services/tenancy/tenant-service.js';
import { jsonOption } from './options.js';
import type { CommandContext } from './program.js';

interface MoveOptions {
  to: string;
  dropSource?: boolean;
  json?: boolean;
}

/** `tenant move <tenant> --to <server>`: progress lines, then what was moved. */
export function moveCommand(group: Command, { using, out, actor }: CommandContext<TenantService>) {
  group
    .command('move')
    .description(
      "Move a tenant's database to another server, with a short pause of its writes (see docs/tenancy.md)",
    )
    .argument('<tenant>', "The tenant's id or slug")
    .requiredOption('--to <server>', "A name in the config file's database_servers")
    .option('--drop-source', 'Drop the old database once the tenant is served from the new one')
    .addOption(jsonOption())
    .action((tenant: string, options: MoveOptions) =>
      using(async (tenants) => {
        const result = await tenants.move(tenant, options.to, actor, {
          dropSource: options.dropSource === true,
          // With --json, standard output is the one JSON document only.
          onProgress: options.json ? undefined : (line) => out.line(line),
        });
        const { tenant: moved, ...figures } = result;
        if (options.json) {
          out.line(JSON.stringify({ ...tenantJson(moved), move: figures }));
          return;
        }
        out.line(
          `moved ${moved.slug} from '${figures.from}' to '${figures.to}': ${figures.rows} rows, writes paused ${figures.pauseMs} ms`,
        );
      }),
    );
}
