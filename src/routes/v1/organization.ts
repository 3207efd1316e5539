import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import { GatewayError } from '../../errors/gateway-error.js';
import { requireKey } from '../../plugins/auth.js';
import {
  type OrganizationQuery,
  type OrganizationReport,
  organizationReport,
} from '../../services/billing/organization-usage.js';
import type { Authenticator } from '../../services/keys/authenticator.js';
import type { TenantService } from '../../services/tenancy/tenant-service.js';
import { ErrorResponse } from './schemas.js';

export interface OrganizationDeps {
  authenticator: Authenticator;
  tenants: TenantService;
  /** Whether a model serves embeddings only: its usage is the embeddings endpoint's. */
  isEmbeddingModel: (model: string) => boolean;
}

/** A list in a query string: `a=x&a=y`, `a[]=x&a[]=y` (the OpenAI SDKs') or `a=x,y`. */
const List = Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())]));
const LISTS = ['group_by', 'project_ids', 'user_ids', 'api_key_ids', 'models'] as const;

const Query = Type.Object({
  start_time: Type.String({ pattern: '^\\d{1,12}$', description: 'Unix seconds, inclusive.' }),
  end_time: Type.Optional(
    Type.String({ pattern: '^\\d{1,12}$', description: 'Unix seconds, exclusive; default now.' }),
  ),
  bucket_width: Type.Optional(
    Type.String({ description: '`1m`, `1h` or `1d` (costs: `1d` only).' }),
  ),
  limit: Type.Optional(Type.String({ pattern: '^\\d{1,6}$', description: 'Buckets per page.' })),
  page: Type.Optional(
    Type.String({ maxLength: 64, description: 'The `next_page` of the previous page.' }),
  ),
  ...Object.fromEntries(
    LISTS.flatMap((name) => [
      [name, List],
      [`${name}[]`, List],
    ]),
  ),
});

type RawQuery = Record<string, string | string[] | undefined>;

function listOf(query: RawQuery, name: string): string[] | undefined {
  const values = [query[name], query[`${name}[]`]]
    .flat()
    .filter((v): v is string => v !== undefined);
  if (values.length === 0) return undefined;
  return values
    .flatMap((value) => value.split(','))
    .map((value) => value.trim())
    .filter(Boolean);
}

function parsed(query: RawQuery): OrganizationQuery {
  const whole = (name: string) => {
    const value = query[name];
    return typeof value === 'string' ? Number(value) : undefined;
  };
  const text = (name: string) => {
    const value = query[name];
    if (Array.isArray(value))
      throw new GatewayError('invalid_request', {
        message: `${name} is given twice.`,
        param: name,
      });
    return value;
  };
  return {
    start_time: whole('start_time') ?? Number.NaN,
    end_time: whole('end_time'),
    limit: whole('limit'),
    bucket_width: text('bucket_width'),
    page: text('page'),
    ...Object.fromEntries(LISTS.map((name) => [name, listOf(query, name)])),
  };
}

const Page = Type.Object({
  object: Type.Literal('page'),
  data: Type.Array(
    Type.Object({
      object: Type.Literal('bucket'),
      start_time: Type.Integer(),
      end_time: Type.Integer(),
      results: Type.Array(Type.Object({ object: Type.String() }, { additionalProperties: true })),
    }),
  ),
  has_more: Type.Boolean(),
  next_page: Type.Union([Type.String(), Type.Null()]),
});

const REPORTS: [path: string, report: OrganizationReport, operationId: string, summary: string][] =
  [
    [
      '/usage/completions',
      'completions',
      'usage-completions',
      "The tenant's chat and text completions usage, in time buckets.",
    ],
    [
      '/usage/embeddings',
      'embeddings',
      'usage-embeddings',
      "The tenant's embeddings usage, in time buckets.",
    ],
    ['/costs', 'costs', 'usage-costs', 'What the tenant is charged, in daily buckets.'],
  ];

/**
 * /v1/organization: OpenAI's usage and costs API over the calling tenant's usage records, for
 * keys with `billing:read`. The shapes are OpenAI's (docs/api.md says what each field holds
 * here).
 */
export const organizationRoutes: FastifyPluginAsyncTypebox<OrganizationDeps> = async (
  app,
  deps,
) => {
  requireKey(app, deps.authenticator, () => 'billing:read');
  for (const [path, report, operationId, summary] of REPORTS)
    app.get(
      path,
      {
        schema: {
          operationId,
          tags: ['Usage'],
          summary,
          querystring: Query,
          response: { 200: Page, '4xx': ErrorResponse },
        },
      },
      async (request) => {
        const principal = request.principal;
        // requireKey admits tenant keys only to `billing:read`; the platform key has no tenant.
        if (principal?.kind !== 'tenant')
          throw new GatewayError('permission_denied', {
            message: "The usage API answers for a tenant: use a tenant's API key.",
          });
        return organizationReport(
          deps.tenants,
          principal.tenantId,
          report,
          parsed(request.query as RawQuery),
          deps.isEmbeddingModel,
        );
      },
    );
};
