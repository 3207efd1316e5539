import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Services } from '../../composition/services.js';
import { creditJson, pricePlanJson } from '../../domain/billing.js';
import { invalid } from '../../services/billing/inputs.js';
import { isPeriod } from '../../services/billing/periods.js';
import { billingReport } from '../../services/billing/report.js';
import {
  CreditObject,
  GrantCredit,
  Period,
  PlanObject,
  PlanState,
  SetPlan,
} from './billing-schemas.js';
import { errors, ListOf, TenantParams } from './schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';

const tags = ['Billing'];

function checkPeriod(period: string): void {
  if (!isPeriod(period))
    throw invalid('period must be a month written as YYYY-MM, such as 2026-11.', 'period');
}

/** /admin/v1/tenants/{tenant}/plan: the tenant's price plan versions. */
export const planRoutes: FastifyPluginAsyncTypebox<Services> = async (app, { billing }) => {
  app.get(
    '',
    {
      config: { action: 'billing:read' },
      schema: {
        tags,
        summary:
          "The tenant's price plan: the version in effect, those to come, and every version.",
        params: TenantParams,
        response: { 200: PlanState, ...errors },
      },
    },
    async (request) => {
      const tenantId = tenantOf(request).id;
      const { current, upcoming } = await billing.plan(tenantId);
      return {
        object: 'price_plan_state' as const,
        current: current === null ? null : pricePlanJson(current),
        upcoming: upcoming.map(pricePlanJson),
        versions: (await billing.plans(tenantId)).map(pricePlanJson),
      };
    },
  );

  app.post(
    '',
    {
      config: { action: 'billing:write' },
      schema: {
        tags,
        summary: 'Add a version of the price plan, effective now or later (never earlier).',
        description:
          'Usage is charged from the version in effect at its time; versions before this one keep charging their own period. Amounts are decimal strings. See docs/billing.md.',
        params: TenantParams,
        body: SetPlan,
        response: { 201: PlanObject, ...errors },
      },
    },
    async (request, reply) => {
      const plan = await billing.setPlan(tenantOf(request).id, request.body, actorOf(request));
      return reply.code(201).send(pricePlanJson(plan));
    },
  );
};

/** /admin/v1/tenants/{tenant}/credits: credit grants that pay the tenant's invoices. */
export const creditRoutes: FastifyPluginAsyncTypebox<Services> = async (app, { billing }) => {
  app.get(
    '',
    {
      config: { action: 'billing:read' },
      schema: {
        tags,
        summary: "The tenant's credits, with what is left of each.",
        params: TenantParams,
        response: { 200: ListOf(CreditObject), ...errors },
      },
    },
    async (request) => ({
      object: 'list' as const,
      data: (await billing.credits(tenantOf(request).id)).map(creditJson),
    }),
  );

  app.post(
    '',
    {
      config: { action: 'billing:write' },
      schema: {
        tags,
        summary: 'Grant a credit: it pays invoices of periods that begin before it expires.',
        params: TenantParams,
        body: GrantCredit,
        response: { 201: CreditObject, ...errors },
      },
    },
    async (request, reply) => {
      const credit = await billing.grantCredit(
        tenantOf(request).id,
        request.body,
        actorOf(request),
      );
      return reply.code(201).send(creditJson(credit));
    },
  );
};

const ReportRow = Type.Object({
  tenant_id: Type.String(),
  slug: Type.String(),
  currency: Type.Union([Type.String(), Type.Null()], {
    description: "The period's plan currency.",
  }),
  requests: Type.Integer(),
  charge: Type.String({
    description: "What the period's usage was charged, in the plan's currency.",
  }),
  provider_cost_usd: Type.String({
    description: 'What the upstreams billed for it, in US dollars.',
  }),
  provider_cost: Type.String({ description: "The provider cost in the plan's currency." }),
  margin: Type.String({ description: 'Charge less provider cost.' }),
  invoice_number: Type.Union([Type.String(), Type.Null()]),
  invoice_status: Type.Union([Type.String(), Type.Null()]),
  invoice_total: Type.Union([Type.String(), Type.Null()]),
});

/** /admin/v1/billing: the platform's own view over every tenant. */
export const billingReportRoutes: FastifyPluginAsyncTypebox<Services> = async (
  app,
  { tenants },
) => {
  app.get(
    '/report',
    {
      config: { action: 'billing:report' },
      schema: {
        tags,
        summary: 'Charge, provider cost and margin per tenant for one period (platform admins).',
        querystring: Type.Object({ period: Period }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            object: Type.Literal('list'),
            period: Type.String(),
            data: Type.Array(ReportRow),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      checkPeriod(request.query.period);
      return {
        object: 'list' as const,
        period: request.query.period,
        data: await billingReport(tenants, request.query.period),
      };
    },
  );
};
