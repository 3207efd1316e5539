import { type FastifyPluginAsyncTypebox, type Static, Type } from '@fastify/type-provider-typebox';
import type { Services } from '../../composition/services.js';
import { ACTOR_TYPES, type Actor, auditEntryJson } from '../../domain/audit-entry.js';
import type { AuditQuery } from '../../services/audit/audit-log.js';
import { CursorListOf, cursorList } from '../cursor-list.js';
import { errors } from './schemas.js';
import { tenantOf } from './tenant-scope.js';

const filter = (description: string) => Type.Optional(Type.String({ minLength: 1, description }));
const instant = (description: string) =>
  Type.Optional(Type.String({ format: 'date-time', description }));

// Query strings arrive as text and the gateway never coerces types, so the number is a pattern.
const Query = Type.Object(
  {
    limit: Type.Optional(
      Type.String({ pattern: '^(1000|[1-9][0-9]{0,2})$', description: '1 to 1000' }),
    ),
    actor_id: filter('Only entries by this actor (a key id, or the OS user of a CLI entry).'),
    actor_type: Type.Optional(
      Type.Unsafe<Actor['type']>({ type: 'string', enum: [...ACTOR_TYPES] }),
    ),
    action: filter("An exact action, or a prefix ending in '.*' such as 'api_key.*'."),
    target_type: filter('Only entries about targets of this type (api_key, user...).'),
    target_id: filter('Only entries about this target.'),
    since: instant('ISO 8601 date-time: entries at or after it.'),
    until: instant('ISO 8601 date-time: entries before it.'),
    after: filter('The last id of the previous page: the next page holds older entries.'),
  },
  { additionalProperties: false },
);

const JsonObject = Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
  description: 'The target before or after the change, secrets left out.',
});
const nullableString = Type.Union([Type.String(), Type.Null()]);

const AuditLogEntry = Type.Object({
  object: Type.Literal('audit_log'),
  id: Type.String(),
  at: Type.String({ format: 'date-time' }),
  actor_type: Type.String(),
  actor_id: nullableString,
  action: Type.String(),
  target_type: nullableString,
  target_id: nullableString,
  before: JsonObject,
  after: JsonObject,
  ip: nullableString,
  user_agent: nullableString,
  request_id: nullableString,
});

const AuditLogList = CursorListOf(AuditLogEntry);

const Verification = Type.Union(
  [
    Type.Object({
      ok: Type.Literal(true),
      entries: Type.Integer({ description: 'How many entries the chain holds, all matching.' }),
    }),
    Type.Object({
      ok: Type.Literal(false),
      index: Type.Integer({
        description: 'The first entry that does not match: its position, oldest first, from 0.',
      }),
      reason: Type.Unsafe<'previous_hash_mismatch' | 'hash_mismatch'>({
        type: 'string',
        enum: ['previous_hash_mismatch', 'hash_mismatch'],
      }),
    }),
  ],
  { examples: [{ ok: true, entries: 42 }] },
);

function toAuditQuery(query: Static<typeof Query>): AuditQuery {
  const at = (value: string | undefined) => (value === undefined ? undefined : new Date(value));
  return {
    limit: Number(query.limit ?? '100'),
    actorId: query.actor_id,
    actorType: query.actor_type,
    action: query.action,
    targetType: query.target_type,
    targetId: query.target_id,
    since: at(query.since),
    until: at(query.until),
    after: query.after,
  };
}

/** /admin/v1/tenants/{tenant}/audit-logs: the tenant's audit log, newest first, in pages. */
export const auditLogRoutes: FastifyPluginAsyncTypebox<Services> = async (app, { audit }) => {
  app.get(
    '',
    {
      config: { action: 'audit:read' },
      schema: {
        tags: ['Audit logs'],
        summary: "The tenant's audit log, newest first, filtered and paged by cursor.",
        params: Type.Object({ tenant: Type.String() }),
        querystring: Query,
        response: { 200: AuditLogList, ...errors },
      },
    },
    async (request) => {
      const page = await audit.list(tenantOf(request).id, toAuditQuery(request.query));
      return cursorList(page.data.map(auditEntryJson), page.hasMore);
    },
  );

  app.post(
    '/verify',
    {
      // A POST, not a GET: it reads and hashes the whole log, so no prefetch or crawler should.
      config: { action: 'audit:read' },
      schema: {
        tags: ['Audit logs'],
        summary:
          "Recompute the tenant's audit hash chain (as `llm-backend audit verify`); the first entry that does not match, if any.",
        params: Type.Object({ tenant: Type.String() }),
        response: { 200: Verification, ...errors },
      },
    },
    async (request) => {
      const result = await audit.verify(tenantOf(request).id);
      return result.ok
        ? { ok: true as const, entries: result.count }
        : { ok: false as const, index: result.index, reason: result.reason };
    },
  );
};
