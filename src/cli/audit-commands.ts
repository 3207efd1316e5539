import type { Kysely } from 'kysely';
import { type AuditTable, listAudit, verifyAudit } from '../services/audit/audit-log.js';
import type { Services } from '../services/services.js';
import { type Output, parseCommandArgs, UsageError } from './tenant-commands.js';

export const AUDIT_USAGE = `Usage:
  llm-backend audit list <tenant | --platform> [--limit 100] [--json]
  llm-backend audit verify <tenant | --platform>

'verify' recomputes the hash chain and exits 1 at the first entry that does not match.`;

/** `llm-backend audit ...`: read and verify a tenant's or the platform's audit log. */
export async function runAuditCommand(
  args: string[],
  services: Services,
  platformDb: Kysely<unknown>,
  out: Output,
): Promise<boolean> {
  const { positionals, values } = parseCommandArgs({
    args,
    allowPositionals: true,
    options: {
      platform: { type: 'boolean' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const [action, tenantRef] = positionals;
  if (!values.platform && tenantRef === undefined)
    throw new UsageError(`'audit ${action ?? ''}' needs a tenant or --platform`);
  let db = platformDb;
  let table: AuditTable = 'platform_audit_log';
  if (!values.platform) {
    db = services.tenants.database(
      await services.tenants.get(tenantRef as string),
    ) as Kysely<unknown>;
    table = 'audit_log';
  }
  switch (action) {
    case 'list': {
      const limit = Number(values.limit ?? '100');
      if (!Number.isInteger(limit) || limit < 1)
        throw new UsageError('--limit must be a positive whole number');
      const entries = await listAudit(db, table, limit);
      if (values.json) out.line(JSON.stringify(entries));
      else
        for (const e of entries)
          out.line(
            `${e.at.toISOString()}  ${e.actor_type}:${e.actor_id ?? '-'}  ${e.action}  ${e.target_type}:${e.target_id}`,
          );
      return true;
    }
    case 'verify': {
      const result = await verifyAudit(db, table);
      out.line(
        result.ok
          ? `ok: ${result.count} entries, chain intact`
          : `BROKEN at entry ${result.index}: ${result.reason}`,
      );
      return result.ok;
    }
    default:
      throw new UsageError(
        action === undefined ? 'missing audit command' : `unknown audit command '${action}'`,
      );
  }
}
