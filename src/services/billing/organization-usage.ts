import { MICROS_PER_UNIT } from '../../domain/money.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { type BucketRow, UsageBucketRepository } from '../../storage/repositories/usage-buckets.js';
import type { TenantService } from '../tenancy/tenant-service.js';

/**
 * OpenAI's organization usage and costs API (`/v1/organization/usage/completions`,
 * `/usage/embeddings`, `/costs`), answered for one tenant from its usage records, so tools
 * made for OpenAI's usage API work unchanged. The tenant is the organization's one project:
 * `project_id` is the tenant's id. Costs are what the tenant is charged (its invoices'
 * amounts), not the platform's provider cost.
 */
export type OrganizationReport = 'completions' | 'embeddings' | 'costs';

export interface OrganizationQuery {
  start_time: number;
  end_time?: number;
  bucket_width?: string;
  limit?: number;
  page?: string;
  group_by?: string[];
  project_ids?: string[];
  user_ids?: string[];
  api_key_ids?: string[];
  models?: string[];
}

const WIDTHS: Record<string, { seconds: number; defaultLimit: number; maxLimit: number }> = {
  '1m': { seconds: 60, defaultLimit: 60, maxLimit: 1440 },
  '1h': { seconds: 3600, defaultLimit: 24, maxLimit: 168 },
  '1d': { seconds: 86_400, defaultLimit: 7, maxLimit: 31 },
};
const COSTS_MAX_LIMIT = 180;

const GROUPS: Record<OrganizationReport, readonly string[]> = {
  completions: ['project_id', 'user_id', 'api_key_id', 'model', 'batch', 'service_tier'],
  embeddings: ['project_id', 'user_id', 'api_key_id', 'model'],
  costs: ['project_id', 'line_item', 'api_key_id'],
};

const invalid = (message: string, param: string) =>
  new GatewayError('invalid_request', { message, param });

/** The page cursor: where the page starts, in Unix seconds, opaque to clients. */
const cursorOf = (start: number) => Buffer.from(`t${start}`).toString('base64url');
function startOfCursor(page: string): number {
  const text = Buffer.from(page, 'base64url').toString();
  const start = /^t(\d{1,12})$/.exec(text)?.[1];
  if (start === undefined) throw invalid('page is not a cursor this endpoint gave out.', 'page');
  return Number(start);
}

interface Plan {
  width: number;
  pageStart: number;
  end: number;
  buckets: number;
  hasMore: boolean;
  groupBy: Set<string>;
}

function planOf(report: OrganizationReport, query: OrganizationQuery, now: Date): Plan {
  const width = query.bucket_width ?? '1d';
  const spec = WIDTHS[width];
  if (spec === undefined || (report === 'costs' && width !== '1d'))
    throw invalid(
      report === 'costs' ? 'bucket_width must be 1d.' : 'bucket_width must be 1m, 1h or 1d.',
      'bucket_width',
    );
  const maxLimit = report === 'costs' ? COSTS_MAX_LIMIT : spec.maxLimit;
  const limit = query.limit ?? spec.defaultLimit;
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit)
    throw invalid(`limit must be a whole number from 1 to ${maxLimit}.`, 'limit');
  const start = query.start_time;
  if (!Number.isInteger(start) || start < 0)
    throw invalid('start_time must be a Unix time in seconds.', 'start_time');
  const end = query.end_time ?? Math.ceil(now.getTime() / 1000);
  if (!Number.isInteger(end) || end <= start)
    throw invalid('end_time must be a Unix time in seconds after start_time.', 'end_time');
  const pageStart = query.page === undefined ? start : startOfCursor(query.page);
  if (pageStart < start || pageStart >= end || (pageStart - start) % spec.seconds !== 0)
    throw invalid('page does not belong to this start_time and end_time.', 'page');
  const left = Math.ceil((end - pageStart) / spec.seconds);
  const groupBy = new Set(query.group_by ?? []);
  for (const group of groupBy)
    if (!GROUPS[report].includes(group))
      throw invalid(`group_by takes ${GROUPS[report].join(', ')}.`, 'group_by');
  return {
    width: spec.seconds,
    pageStart,
    end,
    buckets: Math.min(left, limit),
    hasMore: left > limit,
    groupBy,
  };
}

interface Result {
  object: string;
  [field: string]: unknown;
}

/** Adds the row into the result keyed by the groups asked for. */
function accumulate(
  results: Map<string, Result>,
  key: unknown[],
  make: () => Result,
  add: (result: Result) => void,
) {
  const id = JSON.stringify(key);
  let result = results.get(id);
  if (result === undefined) {
    result = make();
    results.set(id, result);
  }
  add(result);
}

const plus = (result: Result, field: string, value: number) => {
  result[field] = (result[field] as number) + value;
};

function usageResults(
  report: 'completions' | 'embeddings',
  rows: BucketRow[],
  groupBy: Set<string>,
  projectId: string,
): Result[] {
  const results = new Map<string, Result>();
  for (const row of rows) {
    const pick = <T>(group: string, value: T) => (groupBy.has(group) ? value : null);
    const groups = {
      project_id: pick('project_id', projectId),
      user_id: pick('user_id', row.userId),
      api_key_id: pick('api_key_id', row.keyId),
      model: pick('model', row.model),
      ...(report === 'completions' && {
        batch: pick('batch', false),
        service_tier: pick('service_tier', 'default'),
      }),
    };
    accumulate(
      results,
      Object.values(groups),
      () =>
        report === 'completions'
          ? {
              object: 'organization.usage.completions.result',
              input_tokens: 0,
              input_cached_tokens: 0,
              input_uncached_tokens: 0,
              output_tokens: 0,
              num_model_requests: 0,
              ...groups,
            }
          : {
              object: 'organization.usage.embeddings.result',
              input_tokens: 0,
              num_model_requests: 0,
              ...groups,
            },
      (result) => {
        plus(result, 'input_tokens', row.inputTokens);
        plus(result, 'num_model_requests', row.requests);
        if (report === 'embeddings') return;
        plus(result, 'input_cached_tokens', row.cachedTokens);
        plus(result, 'input_uncached_tokens', row.inputTokens - row.cachedTokens);
        plus(result, 'output_tokens', row.outputTokens);
      },
    );
  }
  return [...results.values()];
}

/** A charge's parts as cost line items, with the tokens each part counts (none: requests). */
const PARTS = [
  ['input', 'input', (row: BucketRow) => row.inputTokens - row.cachedTokens],
  ['cached', 'cached input', (row: BucketRow) => row.cachedTokens],
  ['output', 'output', (row: BucketRow) => row.outputTokens],
  ['other', 'other', null],
] as const;

function costResults(rows: BucketRow[], groupBy: Set<string>, projectId: string): Result[] {
  const results = new Map<string, Result>();
  for (const row of rows) {
    // Usage charged under no plan costs the tenant nothing: no result.
    if (row.currency === null) continue;
    const currency = row.currency.toLowerCase();
    const parts = groupBy.has('line_item')
      ? PARTS.map(([part, name, tokens]) => ({
          lineItem: `${row.model}, ${name}`,
          micros: row.charge[part],
          quantity: tokens === null ? null : tokens(row),
        })).filter((part) => part.micros !== 0)
      : [
          {
            lineItem: null,
            micros: row.charge.input + row.charge.cached + row.charge.output + row.charge.other,
            quantity: null,
          },
        ];
    for (const part of parts) {
      const groups = {
        line_item: part.lineItem,
        project_id: groupBy.has('project_id') ? projectId : null,
        api_key_id: groupBy.has('api_key_id') ? row.keyId : null,
      };
      accumulate(
        results,
        [...Object.values(groups), currency],
        () => ({
          object: 'organization.costs.result',
          amount: { value: 0, currency, micros: 0 },
          ...groups,
          quantity: part.quantity === null ? null : 0,
          quantity_unit: part.quantity === null ? null : 'tokens',
        }),
        (result) => {
          const amount = result.amount as { value: number; currency: string; micros: number };
          amount.micros += part.micros;
          if (part.quantity !== null) plus(result, 'quantity', part.quantity);
        },
      );
    }
  }
  // Summed exactly in micro-units, shown as OpenAI does: a number in the currency's unit.
  return [...results.values()].map((result) => {
    const { micros, currency } = result.amount as { micros: number; currency: string };
    return { ...result, amount: { value: micros / MICROS_PER_UNIT, currency } };
  });
}

/** One page of the report, in OpenAI's `page` of `bucket`s shape. */
export async function organizationReport(
  tenants: TenantService,
  tenantId: string,
  report: OrganizationReport,
  query: OrganizationQuery,
  isEmbeddingModel: (model: string) => boolean,
  now = new Date(),
) {
  const plan = planOf(report, query, now);
  const pageEnd = Math.min(plan.end, plan.pageStart + plan.buckets * plan.width);
  const nonEmpty = (list?: string[]) => (list !== undefined && list.length > 0 ? list : undefined);
  const outside =
    query.project_ids !== undefined &&
    query.project_ids.length > 0 &&
    !query.project_ids.includes(tenantId);
  const { db } = await tenants.open(tenantId);
  const rows = outside
    ? []
    : await new UsageBucketRepository(db).rows({
        start: plan.pageStart,
        end: pageEnd,
        width: plan.width,
        userIds: nonEmpty(query.user_ids),
        keyIds: nonEmpty(query.api_key_ids),
        models: nonEmpty(query.models),
      });
  const data = Array.from({ length: plan.buckets }, (_, index) => {
    const start = plan.pageStart + index * plan.width;
    const inBucket = rows.filter((row) => row.bucket === index);
    const results =
      report === 'costs'
        ? costResults(inBucket, plan.groupBy, tenantId)
        : usageResults(
            report,
            inBucket.filter((row) => isEmbeddingModel(row.model) === (report === 'embeddings')),
            plan.groupBy,
            tenantId,
          );
    return {
      object: 'bucket' as const,
      start_time: start,
      end_time: Math.min(start + plan.width, plan.end),
      results,
    };
  });
  return {
    object: 'page' as const,
    data,
    has_more: plan.hasMore,
    next_page: plan.hasMore ? cursorOf(pageEnd) : null,
  };
}
