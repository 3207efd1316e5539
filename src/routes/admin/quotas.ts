import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../composition/services.js';
import { NANOS_PER_UNIT, periodAt } from '../../services/limits/quota-period.js';
import { MAX_QUOTA_AMOUNT, type Quota, quotaJson } from '../../services/limits/quotas.js';
import type { LimitScope, QuotaMetric, QuotaPeriod } from '../../storage/tenant-schema.js';
import { errors, ListOf, TenantParams, Timestamp } from './schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';

const Scope = Type.Unsafe<LimitScope>({
  type: 'string',
  enum: ['tenant', 'user', 'key'],
  description: 'Whom the quota binds: the whole tenant, one user (all its keys), or one key.',
});
const Metric = Type.Unsafe<QuotaMetric>({
  type: 'string',
  enum: ['tokens', 'cost'],
  description:
    "What is counted: `tokens` (prompt and completion) or `cost` (spend in the price table's currency, US dollars).",
});
const Period = Type.Unsafe<QuotaPeriod>({
  type: 'string',
  enum: ['day', 'month', 'total'],
  description: '`day` and `month` are UTC calendar periods; `total` never resets.',
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
        maxItems: 10,
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
        "What the target used in the current period, from the usage records: tokens, or spend in the price table's currency.",
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
const json = (quota: Parameters<typeof quotaJson>[0]) => ({
  object: 'quota' as const,
  ...quotaJson(quota),
});

/** /admin/v1/tenants/{tenant}/quotas: token quotas and spend budgets of the tenant, its users and its keys. */
export async function quotaRoutes(app: FastifyInstance, services: Services): Promise<void> {
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
      // The records, not Redis's counters: those may be missing or hold open reservations.
      const withUse = async (quota: Quota) => {
        const window = periodAt(quota.period, now);
        const used = await services.usageRecords.usedIn(tenantId, quota, window);
        return {
          ...json(quota),
          used: quota.metric === 'cost' ? used / NANOS_PER_UNIT : used,
          period_start: window.start?.toISOString() ?? null,
        };
      };
      return {
        object: 'list',
        data: await Promise.all((await services.quotas.list(tenantId)).map(withUse)),
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
      const body = request.body as typeof SetQuota.static;
      const { quota, created } = await services.quotas.set(
        tenantOf(request).id,
        {
          scope: body.scope,
          subjectId: body.subject_id ?? null,
          metric: body.metric,
          period: body.period,
          amount: body.amount,
          thresholds: body.thresholds ?? [],
        },
        actorOf(request),
      );
      return reply.code(created ? 201 : 200).send(json(quota));
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
      json(
        await services.quotas.delete(
          tenantOf(request).id,
          (request.params as { quota: string }).quota,
          actorOf(request),
        ),
      ),
  );
}
