import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../composition/services.js';
import { limitRuleJson } from '../../services/limits/limit-rules.js';
import type { LimitScope } from '../../storage/tenant-schema.js';
import { errors, ListOf, TenantParams, Timestamp } from './schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';

const Scope = Type.Unsafe<LimitScope>({
  type: 'string',
  enum: ['tenant', 'user', 'key'],
  description: 'Whom the limit binds: the whole tenant, one user (all its keys), or one key.',
});
const Limit = (description: string) =>
  Type.Union([Type.Integer({ minimum: 1, maximum: 2_000_000_000 }), Type.Null()], {
    description,
  });

const SetLimit = Type.Object(
  {
    scope: Scope,
    subject_id: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
        description: "The user's id (`usr_...`) or key's id (`key_...`); not for `tenant`.",
      }),
    ),
    model: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
        description: 'One model; absent or null: all models together.',
      }),
    ),
    requests_per_minute: Type.Optional(Limit('At most this many requests in any 60 seconds.')),
    tokens_per_minute: Type.Optional(
      Limit('At most this many tokens (prompt and completion) in any 60 seconds.'),
    ),
    max_concurrent_requests: Type.Optional(Limit('At most this many requests at once.')),
  },
  {
    additionalProperties: false,
    examples: [{ scope: 'tenant', requests_per_minute: 600, tokens_per_minute: 200000 }],
  },
);

const LimitObject = Type.Object(
  {
    object: Type.Literal('rate_limit'),
    id: Type.String(),
    scope: Scope,
    subject_id: Type.Union([Type.String(), Type.Null()]),
    model: Type.Union([Type.String(), Type.Null()]),
    requests_per_minute: Type.Union([Type.Integer(), Type.Null()]),
    tokens_per_minute: Type.Union([Type.Integer(), Type.Null()]),
    max_concurrent_requests: Type.Union([Type.Integer(), Type.Null()]),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  {
    examples: [
      {
        object: 'rate_limit',
        id: 'lim_0mwxj3k2a9f1c2d3e4f5a6b7c8',
        scope: 'tenant',
        subject_id: null,
        model: null,
        requests_per_minute: 600,
        tokens_per_minute: 200000,
        max_concurrent_requests: null,
        created_at: '2026-11-26T12:00:00.000Z',
        updated_at: '2026-11-26T12:00:00.000Z',
      },
    ],
  },
);

const LimitParams = Type.Object({ ...TenantParams.properties, limit: Type.String() });
const tags = ['Rate limits'];
const json = (rule: Parameters<typeof limitRuleJson>[0]) => ({
  object: 'rate_limit' as const,
  ...limitRuleJson(rule),
});

/** /admin/v1/tenants/{tenant}/limits: the tenant's, its users' and its keys' rate limits. */
export async function limitRoutes(app: FastifyInstance, services: Services): Promise<void> {
  app.get(
    '',
    {
      config: { action: 'limits:read' },
      schema: {
        tags,
        summary: 'List the rate limits of the tenant, its users and its keys.',
        params: TenantParams,
        response: { 200: ListOf(LimitObject), ...errors },
      },
    },
    async (request) => ({
      object: 'list',
      data: (await services.limitRules.list(tenantOf(request).id)).map(json),
    }),
  );

  app.post(
    '',
    {
      config: { action: 'limits:write' },
      schema: {
        tags,
        summary: 'Set the limits of one target (tenant, user or key; all models or one).',
        description:
          'Replaces the rule of the same scope, subject and model if there is one (200), else creates it (201). A limit left out or null is lifted.',
        params: TenantParams,
        body: SetLimit,
        response: { 200: LimitObject, 201: LimitObject, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body as typeof SetLimit.static;
      const { rule, created } = await services.limitRules.set(
        tenantOf(request).id,
        {
          scope: body.scope,
          subjectId: body.subject_id ?? null,
          model: body.model ?? null,
          requestsPerMinute: body.requests_per_minute ?? null,
          tokensPerMinute: body.tokens_per_minute ?? null,
          maxConcurrentRequests: body.max_concurrent_requests ?? null,
        },
        actorOf(request),
      );
      return reply.code(created ? 201 : 200).send(json(rule));
    },
  );

  app.delete(
    '/:limit',
    {
      config: { action: 'limits:write' },
      schema: {
        tags,
        summary: 'Lift a rule: its target is no longer limited by it.',
        params: LimitParams,
        response: { 200: LimitObject, ...errors },
      },
    },
    async (request) =>
      json(
        await services.limitRules.delete(
          tenantOf(request).id,
          (request.params as { limit: string }).limit,
          actorOf(request),
        ),
      ),
  );
}
