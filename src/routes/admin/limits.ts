import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Services } from '../../composition/services.js';
import {
  LIMIT_KIND_NAMES,
  type LimitKindSpec,
  limitKind,
  limitOptions,
  perLimitKind,
} from '../../domain/limit-kinds.js';
import { limitRuleJson } from '../../domain/limit-rule.js';
import type { LimitScope } from '../../storage/tenant-schema.js';
import { errors, ListOf, TenantParams, Timestamp } from './schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';

const Scope = Type.Unsafe<LimitScope>({
  type: 'string',
  enum: ['tenant', 'user', 'key'],
  description: 'Whom the limit binds: the whole tenant, one user (all its keys), or one key.',
});

/** One field per kind of limit (domain/limit-kinds.ts), in the catalogue's order. */
const LimitValue = ({ min, max, description }: LimitKindSpec) =>
  Type.Union([Type.Integer({ minimum: min, maximum: max }), Type.Null()], { description });
const exampleLimits = Object.fromEntries(
  LIMIT_KIND_NAMES.flatMap((name) => {
    const { example } = limitKind(name);
    return example === undefined ? [] : [[name, example]];
  }),
);

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
    ...perLimitKind((_, spec) => Type.Optional(LimitValue(spec))),
  },
  { additionalProperties: false, examples: [{ scope: 'tenant', ...exampleLimits }] },
);

const LimitObject = Type.Object(
  {
    object: Type.Literal('rate_limit'),
    id: Type.String(),
    scope: Scope,
    subject_id: Type.Union([Type.String(), Type.Null()]),
    model: Type.Union([Type.String(), Type.Null()]),
    ...perLimitKind(() => Type.Union([Type.Integer(), Type.Null()])),
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
        ...perLimitKind((name) => exampleLimits[name] ?? null),
        created_at: '2026-11-26T12:00:00.000Z',
        updated_at: '2026-11-26T12:00:00.000Z',
      },
    ],
  },
);

const LimitParams = Type.Object({ ...TenantParams.properties, limit: Type.String() });
const tags = ['Rate limits'];

/** /admin/v1/tenants/{tenant}/limits: the tenant's, its users' and its keys' rate limits. */
export const limitRoutes: FastifyPluginAsyncTypebox<Services> = async (app, { limitRules }) => {
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
      object: 'list' as const,
      data: (await limitRules.list(tenantOf(request).id)).map(limitRuleJson),
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
      const { scope, subject_id: subjectId, model, ...limits } = request.body;
      const { rule, created } = await limitRules.set(
        tenantOf(request).id,
        { scope, subjectId, model, ...limitOptions(limits) },
        actorOf(request),
      );
      return reply.code(created ? 201 : 200).send(limitRuleJson(rule));
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
      limitRuleJson(
        await limitRules.delete(tenantOf(request).id, request.params.limit, actorOf(request)),
      ),
  );
};
