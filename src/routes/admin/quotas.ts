import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Services } from '../../composition/services.js';
import {
  describeEach,
  MAX_QUOTA_AMOUNT,
  MAX_THRESHOLDS,
  QUOTA_METRIC_NAMES,
  QUOTA_METRICS,
  QUOTA_PERIOD_NAMES,
  QUOTA_PERIODS,
  type Quota,
  type QuotaMetric,
  type QuotaPeriod,
  quotaJson,
} from '../../domain/quota.js';
import { periodAt } from '../../services/limits/quota-period.js';
import type { LimitScope } from '../../storage/tenant-schema.js';
import { errors, ListOf, TenantParams, Timestamp } from './schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';

const Scope = Type.Unsafe<LimitScope>({
  type: 'string',
  enum: ['tenant', 'user', 'key'],
  description: 'Whom the quota binds: the whole tenant, one user (all its keys), or one key.',
});
const Metric = Type.Unsafe<QuotaMetric>({
  type: 'string',
  enum: QUOTA_METRIC_NAMES,
  description: `What is counted. ${describeEach(QUOTA_METRICS)}`,
});
const Period = Type.Unsafe<QuotaPeriod>({
  type: 'string',
  enum: QUOTA_PERIOD_NAMES,
  description: `The period counted over. ${describeEach(QUOTA_PERIODS)}`,
});
const SetQuota = Type.Object(
  {
    scope: Scope,
    subject_id: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
        description: "The user's id (`usr_...`) or key's id (`key_...`); not for `tenant`.",
      }),
    ),
    metric: Metric,
    period: Period,
    amount: Type.Number({
      exclusiveMinimum: 0,
      maximum: MAX_QUOTA_AMOUNT,
      description: 'At most this many tokens (a whole number) or this much spend per period.',
    }),
    thresholds: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1, maximum: 100 }), {
        maxItems: MAX_THRESHOLDS,
        description:
          'Soft thresholds in percent of the amount (1 to 100); stored sorted, without repeats.',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      { scope: 'tenant', metric: 'cost', period: 'month', amount: 500, thresholds: [50, 80, 100] },
    ],
  },
);

const QuotaObject = Type.Object(
  {
    object: Type.Literal('quota'),
    id: Type.String(),
    scope: Scope,
    subject_id: Type.Union([Type.String(), Type.Null()]),
    metric: Metric,
    period: Period,
    amount: Type.Number(),
    thresholds: Type.Array(Type.Integer()),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  {
    examples: [
      {
        object: 'quota',
        id: 'quo_0mwxj3k2a9f1c2d3e4f5a6b7c8',
        scope: 'tenant',
        subject_id: null,
        metric: 'cost',
        period: 'month',
        amount: 500,
        thresholds: [50, 80, 100],
        created_at: '2026-11-26T12:00:00.000Z',
        updated_at: '2026-11-26T12:00:00.000Z',
      },
    ],
  },
);

const QuotaWithUse = Type.Object(
  {
    ...QuotaObject.properties,
    used: Type.Number({
      description:
        "What the target used in the current period, from the usage records, in the quota's metric: tokens, spend in the price table's currency, or charges in the plan's currency.",
    }),
    period_start: Type.Union([Timestamp, Type.Null()], {
      description: 'When the current period began (UTC); null for `total`.',
    }),
  },
  {
    examples: [
      {
        ...(QuotaObject.examples as Record<string, unknown>[])[0],
        used: 123.456789,
        period_start: '2026-11-01T00:00:00.000Z',
      },
    ],
  },
);

const QuotaParams = Type.Object({ ...TenantParams.properties, quota: Type.String() });
const tags = ['Quotas and budgets'];

/** /admin/v1/tenants/{tenant}/quotas: token quotas and spend budgets of the tenant, its users and its keys. */
export const quotaRoutes: FastifyPluginAsyncTypebox<Services> = async (
  app,
  { quotas, usageRecords },
) => {
  // The records, not Redis's counters: those may be missing or hold open reservations.
  const withUse = async (tenantId: string, quota: Quota, now: Date) => {
    const window = periodAt(quota.period, now);
    const used = await usageRecords.usedIn(tenantId, quota, window);
    return {
      ...quotaJson(quota),
      used: used / QUOTA_METRICS[quota.metric].scale,
      period_start: window.start?.toISOString() ?? null,
    };
  };

  app.get(
    '',
    {
      config: { action: 'limits:read' },
      schema: {
        tags,
        summary: 'List the quotas and budgets of the tenant, its users and its keys.',
        params: TenantParams,
        response: { 200: ListOf(QuotaWithUse), ...errors },
      },
    },
    async (request) => {
      const tenantId = tenantOf(request).id;
      const now = new Date();
      const listed = await quotas.list(tenantId);
      return {
        object: 'list' as const,
        data: await Promise.all(listed.map((quota) => withUse(tenantId, quota, now))),
      };
    },
  );

  app.post(
    '',
    {
      config: { action: 'limits:write' },
      schema: {
        tags,
        summary: 'Set the quota of one target (tenant, user or key) for one metric and period.',
        description:
          'Replaces the quota of the same scope, subject, metric and period if there is one (200), else creates it (201). Thresholds left out are none.',
        params: TenantParams,
        body: SetQuota,
        response: { 200: QuotaObject, 201: QuotaObject, ...errors },
      },
    },
    async (request, reply) => {
      const { subject_id: subjectId, ...body } = request.body;
      const { quota, created } = await quotas.set(
        tenantOf(request).id,
        { ...body, subjectId },
        actorOf(request),
      );
      return reply.code(created ? 201 : 200).send(quotaJson(quota));
    },
  );

  app.delete(
    '/:quota',
    {
      config: { action: 'limits:write' },
      schema: {
        tags,
        summary: 'Lift a quota: its target is no longer held to it.',
        params: QuotaParams,
        response: { 200: QuotaObject, ...errors },
      },
    },
    async (request) =>
      quotaJson(await quotas.delete(tenantOf(request).id, request.params.quota, actorOf(request))),
  );
};
