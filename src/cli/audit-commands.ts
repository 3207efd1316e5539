import { type Command, InvalidArgumentError } from 'commander';
import type { Services } from '../composition/services.js';
import { ACTOR_TYPES, type Actor, type AuditEntry, auditEntryJson } from '../domain/audit-entry.js';
import type { AuditQuery } from '../services/audit/audit-log.js';
import { dateTime, jsonOption, wholeNumber } from './options.js';
import { type CommandContext, commandGroup, given, type Output, runGroup } from './program.js';

/** What the audit commands read: a tenant's log, or the platform's. */
export type AuditSubject = Pick<Services, 'audit'>;

export interface AuditContext extends Omit<CommandContext<AuditSubject>, 'actor'> {
  /** Told whether the chain verified; the CLI exits 1 when it did not. */
  outcome: (intact: boolean) => void;
}

interface LogChoice {
  platform?: boolean;
}

interface ListOptions extends LogChoice {
  limit: number;
  json?: boolean;
  actor?: TypeAndId;
  action?: string;
  target?: TypeAndId;
  since?: Date;
  until?: Date;
  after?: string;
}

interface TypeAndId {
  type?: string;
  id?: string;
}

const ABOUT = `
'list' shows the newest entries first; when more are left it ends with 'more: --after <id>',
the option that shows the next page. Actor types are ${ACTOR_TYPES.join(', ')}; 'TYPE:' alone
matches every id of that type. --since is inclusive, --until exclusive (ISO 8601 times).
'verify' recomputes the hash chain and exits 1 at the first entry that does not match.`;

/** `TYPE:ID`, `TYPE:` or `ID`; an empty part filters nothing. */
function typeAndId(value: string): TypeAndId {
  const colon = value.indexOf(':');
  const [type, id] = colon === -1 ? ['', value] : [value.slice(0, colon), value.slice(colon + 1)];
  return { type: type || undefined, id: id || undefined };
}

function actorFilter(value: string): TypeAndId {
  const actor = typeAndId(value);
  if (actor.type !== undefined && !(ACTOR_TYPES as readonly string[]).includes(actor.type))
    throw new InvalidArgumentError(`The actor type must be one of ${ACTOR_TYPES.join(', ')}.`);
  return actor;
}

function auditQuery(options: ListOptions): AuditQuery {
  const { limit, actor = {}, target = {}, since, until, after } = options;
  return {
    limit,
    actorType: actor.type as Actor['type'] | undefined,
    actorId: actor.id,
    action: options.action || undefined,
    targetType: target.type,
    targetId: target.id,
    since,
    until,
    after,
  };
}

function describeEntry(e: AuditEntry): string {
  return `${e.at.toISOString()}  ${e.id}  ${e.actorType}:${e.actorId ?? '-'}  ${e.action}  ${e.targetType}:${e.targetId}`;
}

/** Declares `<tenant | --platform>` and checks, before anything is opened, that one is given. */
function whichLog(command: Command): Command {
  return command
    .argument('[tenant]', "The tenant's id or slug (or --platform)")
    .option('--platform', "The platform's log instead of a tenant's")
    .hook('preAction', (_parent, action) => {
      const [tenant] = action.args;
      const { platform } = action.opts<LogChoice>();
      if ((tenant === undefined) === (platform === undefined))
        action.error('needs a tenant or --platform (one of them)');
    });
}

async function list(
  subject: AuditSubject,
  out: Output,
  tenant: string | undefined,
  options: ListOptions,
) {
  const page = await subject.audit.list(tenant ?? null, auditQuery(options));
  // --json prints the entries as the API does, in a bare array; scripts page on with the
  // last entry's id.
  if (options.json) return out.line(JSON.stringify(page.data.map(auditEntryJson)));
  for (const entry of page.data) out.line(describeEntry(entry));
  const last = page.data.at(-1);
  if (page.hasMore && last) out.line(`more: --after ${last.id}`);
}

/** `llm-backend audit ...`: read and verify a tenant's or the platform's audit log. */
export function auditCommand({ using, out, outcome }: AuditContext): Command {
  const group = commandGroup('audit', out)
    .description("List a tenant's or the platform's audit log and verify its hash chain")
    .addHelpText('after', ABOUT);
  whichLog(group.command('list').description('List audit entries, newest first'))
    .option('--limit <n>', 'At most this many entries', wholeNumber(1), 100)
    .addOption(jsonOption())
    .option('--actor <[type:]id>', 'Only entries by this actor', actorFilter)
    .option('--action <action>', 'Only this action, or a prefix such as api_key.*')
    .option('--target <[type:]id>', 'Only entries about this target', typeAndId)
    .option('--since <time>', 'Only entries at or after this time', dateTime)
    .option('--until <time>', 'Only entries before this time', dateTime)
    .option('--after <audit_id>', 'The next page: entries older than this one')
    .action((tenant: string | undefined, options: ListOptions) =>
      using((subject) => list(subject, out, tenant, options)),
    );
  whichLog(
    group.command('verify').description('Recompute the hash chain; exit 1 where it breaks'),
  ).action((tenant: string | undefined, { platform }: LogChoice) =>
    using(async (subject) => {
      const result = await subject.audit.verify(platform ? null : (tenant ?? null));
      out.line(
        result.ok
          ? `ok: ${result.count} entries, chain intact`
          : `BROKEN at entry ${result.index}: ${result.reason}`,
      );
      outcome(result.ok);
    }),
  );
  return group;
}

/** Runs `llm-backend audit ...args` in-process; resolves with whether the chain verified. */
export async function runAuditCommand(
  args: string[],
  services: AuditSubject,
  out: Output,
): Promise<boolean> {
  let intact = true;
  const subject = { audit: services.audit };
  const outcome = (ok: boolean) => {
    intact = ok;
  };
  await runGroup(auditCommand({ using: given(subject), out, outcome }), args);
  return intact;
}
