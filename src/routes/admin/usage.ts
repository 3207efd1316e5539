import { type FastifyPluginAsyncTypebox, type Static, Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Services } from '../../composition/services.js';
import { USAGE_GROUPS, usageReportJson } from '../../domain/usage-report.js';
import { can } from '../../services/access/permissions.js';
import {
  MAX_REPORT_DAYS,
  parseGroupBy,
  parseInstant,
  type UsageReportQuery,
} from '../../services/usage/usage-report.js';
import { errors, TenantParams } from './schemas.js';
import { tenantOf } from './tenant-scope.js';

const text = (description: string) => Type.Optional(Type.String({ minLength: 1, description }));

const Query = Type.Object(
  {
    from: text(
      'ISO 8601 date (`2026-11-01`, 00:00 UTC) or date-time with a time zone; usage at or after it. Default: 30 days before `to`.',
    ),
    to: text('The same; usage strictly before it. Default: now.'),
    group_by: text(
      `A comma-separated list of ${USAGE_GROUPS.join(', ')}: the rows are summed per UTC day, model, user and key, in that order. Default: \`day\`.`,
    ),
    model: text('Only the usage of this model (the name clients send).'),
    user_id: text("Only the usage of this user's keys."),
    key_id: text('Only the usage of this key.'),
  },
  { additionalProperties: false },
);

const count = (description: string) => Type.Integer({ minimum: 0, description });
const measures = {
  requests: count('Requests that got a response (a stream the client left counts too).'),
  input_tokens: count('Prompt tokens sent upstream (cache hits not included).'),
  output_tokens: count('Completion tokens produced upstream (cache hits not included).'),
  cached_tokens: count('Prompt tokens the upstream served from its cache.'),
  cost: Type.Union([Type.Number(), Type.Null()], {
    description:
      "Spend in the price table's currency (US dollars); null for a key without `billing:read`.",
  }),
  errors: count('Requests answered with a status of 400 or more (499: the client went away).'),
  streamed: count('Streamed requests.'),
  cache_hits: count("Requests answered from the gateway's response cache."),
  saved_tokens: count('Prompt and completion tokens of those answers: not spent upstream.'),
  saved_cost: Type.Union([Type.Number(), Type.Null()], {
    description:
      'What the upstream would have charged for those answers (the cache price is in `cost`); null for a key without `billing:read`.',
  }),
};

const Totals = Type.Object(measures);
const Row = Type.Object({
  day: Type.Optional(Type.String({ description: 'The UTC day, `YYYY-MM-DD` (`day` group).' })),
  model: Type.Optional(Type.String({ description: 'The model (`model` group).' })),
  user_id: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description: 'The user (`user` group); null for keys that belong to no user.',
    }),
  ),
  key_id: Type.Optional(Type.String({ description: 'The key (`key` group).' })),
  ...measures,
});

const Report = Type.Object(
  {
    object: Type.Literal('usage_report'),
    from: Type.String({ format: 'date-time' }),
    to: Type.String({ format: 'date-time' }),
    group_by: Type.Array(
      Type.Unsafe<(typeof USAGE_GROUPS)[number]>({ type: 'string', enum: [...USAGE_GROUPS] }),
    ),
    data: Type.Array(Row),
    totals: Totals,
  },
  {
    examples: [
      {
        object: 'usage_report',
        from: '2026-11-01T00:00:00.000Z',
        to: '2026-11-03T00:00:00.000Z',
        group_by: ['day', 'model'],
        data: [
          {
            day: '2026-11-01',
            model: 'gpt-4o-mini',
            requests: 120,
            input_tokens: 48000,
            output_tokens: 12000,
            cached_tokens: 6000,
            cost: 0.0144,
            errors: 2,
            streamed: 80,
            cache_hits: 30,
            saved_tokens: 9000,
            saved_cost: 0.0027,
          },
          {
            day: '2026-11-02',
            model: 'gpt-4o-mini',
            requests: 95,
            input_tokens: 38000,
            output_tokens: 9500,
            cached_tokens: 0,
            cost: 0.0114,
            errors: 0,
            streamed: 60,
            cache_hits: 0,
            saved_tokens: 0,
            saved_cost: 0,
          },
        ],
        totals: {
          requests: 215,
          input_tokens: 86000,
          output_tokens: 21500,
          cached_tokens: 6000,
          cost: 0.0258,
          errors: 2,
          streamed: 140,
          cache_hits: 30,
          saved_tokens: 9000,
          saved_cost: 0.0027,
        },
      },
    ],
  },
);

function toQuery(query: Static<typeof Query>): UsageReportQuery {
  return {
    from: query.from === undefined ? undefined : parseInstant(query.from, 'from'),
    to: query.to === undefined ? undefined : parseInstant(query.to, 'to'),
    groupBy: query.group_by === undefined ? undefined : parseGroupBy(query.group_by),
    model: query.model,
    userId: query.user_id,
    keyId: query.key_id,
  };
}

/**
 * What the caller may see of the report: `usage:read` is every role's, but a member sees only
 * its own usage (as it sees only its own keys), and costs are `billing:read`'s.
 */
function viewOf(request: FastifyRequest): Pick<UsageReportQuery, 'own'> & { showCost: boolean } {
  const principal = request.principal;
  if (principal === null) throw new Error('admin route without a resolved key');
  const showCost = can(principal, 'billing:read', tenantOf(request).id);
  if (principal.kind === 'tenant' && principal.role === 'member')
    return { own: { userId: principal.userId, keyId: principal.keyId }, showCost };
  return { showCost };
}

/** /admin/v1/tenants/{tenant}/usage: the tenant's usage, from its usage records. */
export const usageRoutes: FastifyPluginAsyncTypebox<Services> = async (app, { usageReport }) => {
  app.get(
    '',
    {
      config: { action: 'usage:read' },
      schema: {
        tags: ['Usage'],
        summary: "The tenant's requests, tokens and spend, summed per UTC day, model, user or key.",
        description: `Read from the usage records (on the read replica where there is one, so the newest requests may show up a moment later). At most ${MAX_REPORT_DAYS} days at once. A member key sees only its own usage; \`cost\` is null for keys without \`billing:read\`.`,
        params: TenantParams,
        querystring: Query,
        response: { 200: Report, ...errors },
      },
    },
    async (request) => {
      const { showCost, own } = viewOf(request);
      const query = { ...toQuery(request.query), own };
      return usageReportJson(await usageReport.query(tenantOf(request).id, query), showCost);
    },
  );
};
