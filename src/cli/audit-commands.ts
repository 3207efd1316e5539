import type { Kysely } from 'kysely';
import type { Services } from '../composition/services.js';
import {
  ACTOR_TYPES,
  type Actor,
  type AuditQuery,
  type AuditRecord,
  type AuditTable,
  listAudit,
  verifyAudit,
} from '../services/audit/audit-log.js';
import { type Output, parseCommandArgs, UsageError } from './tenant-commands.js';

export const AUDIT_USAGE = `Usage:
  llm-backend audit list <tenant | --platform> [--limit 100] [--json]
      [--actor [TYPE:]ID] [--action ACTION | PREFIX.*] [--target [TYPE:]ID]
      [--since TIME] [--until TIME] [--after AUDIT_ID]
  llm-backend audit verify <tenant | --platform>

'list' shows the newest entries first; when more are left it ends with 'more: --after <id>',
the option that shows the next page. Actor types are key, platform_key, cli and system; 'TYPE:' alone
matches every id of that type. --since is inclusive, --until exclusive (ISO 8601 times).
'verify' recomputes the hash chain and exits 1 at the first entry that does not match.`;

interface ListOptions {
  limit?: string;
  actor?: string;
  action?: string;
  target?: string;
  since?: string;
  until?: string;
  after?: string;
}

/** `TYPE:ID`, `TYPE:` or `ID`; an empty part filters nothing. */
function typeAndId(value: string): { type?: string; id?: string } {
  const colon = value.indexOf(':');
  const [type, id] = colon === -1 ? ['', value] : [value.slice(0, colon), value.slice(colon + 1)];
  return { type: type || undefined, id: id || undefined };
}

function time(option: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new UsageError(`--${option} must be a date and time such as 2026-11-26T12:00:00Z`);
  return date;
}

function auditQuery(values: ListOptions): AuditQuery {
  const limit = Number(values.limit ?? '100');
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError('--limit must be a positive whole number');
  const actor = typeAndId(values.actor ?? '');
  if (actor.type !== undefined && !(ACTOR_TYPES as readonly string[]).includes(actor.type))
    throw new UsageError(`--actor type must be one of ${ACTOR_TYPES.join(', ')}`);
  const target = typeAndId(values.target ?? '');
  return {
    limit,
    actorType: actor.type as Actor['type'] | undefined,
    actorId: actor.id,
    action: values.action || undefined,
    targetType: target.type,
    targetId: target.id,
    since: time('since', values.since),
    until: time('until', values.until),
    after: values.after,
  };
}

function describeEntry(e: AuditRecord): string {
  return `${e.at.toISOString()}  ${e.id}  ${e.actor_type}:${e.actor_id ?? '-'}  ${e.action}  ${e.target_type}:${e.target_id}`;
}

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
      actor: { type: 'string' },
      action: { type: 'string' },
      target: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      after: { type: 'string' },
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
      const page = await listAudit(db, table, auditQuery(values));
      // --json keeps printing the bare array; scripts page on with the last entry's id.
      if (values.json) out.line(JSON.stringify(page.data));
      else {
        for (const entry of page.data) out.line(describeEntry(entry));
        const last = page.data.at(-1);
        if (page.hasMore && last) out.line(`more: --after ${last.id}`);
      }
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
