export const USAGE_GROUPS = ['day', 'model', 'user', 'key'] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

export interface UsageTotals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  /** In the price table's currency. */
  cost: number;
  /** Requests answered with a status of 400 or more (499: the client went away). */
  errors: number;
  streamed: number;
  /** Requests answered from the response cache; their tokens are not in the token sums. */
  cacheHits: number;
  /** Prompt and completion tokens of the cache hits: not spent upstream. */
  savedTokens: number;
  /** What the upstream would have cost for the cache hits. */
  savedCost: number;
}

/** One group: only the fields of the groups asked for are set. */
export interface UsageRow extends UsageTotals {
  /** The UTC day, `YYYY-MM-DD`. */
  day?: string;
  model?: string;
  /** Null for the keys that belong to no user. */
  userId?: string | null;
  keyId?: string;
}

/** A tenant's usage over a range, summed per group, and the totals of the whole range. */
export interface UsageReportResult {
  from: Date;
  to: Date;
  groupBy: UsageGroup[];
  rows: UsageRow[];
  totals: UsageTotals;
}

function measuresJson(totals: UsageTotals, showCost: boolean) {
  return {
    requests: totals.requests,
    input_tokens: totals.inputTokens,
    output_tokens: totals.outputTokens,
    cached_tokens: totals.cachedTokens,
    cost: showCost ? totals.cost : null,
    errors: totals.errors,
    streamed: totals.streamed,
    cache_hits: totals.cacheHits,
    saved_tokens: totals.savedTokens,
    saved_cost: showCost ? totals.savedCost : null,
  };
}

function rowJson(row: UsageRow, showCost: boolean) {
  return {
    ...(row.day !== undefined && { day: row.day }),
    ...(row.model !== undefined && { model: row.model }),
    ...(row.userId !== undefined && { user_id: row.userId }),
    ...(row.keyId !== undefined && { key_id: row.keyId }),
    ...measuresJson(row, showCost),
  };
}

/** Costs are shown to those allowed to see spend only (`billing:read`); null for the others. */
export function usageReportJson(report: UsageReportResult, showCost: boolean) {
  return {
    object: 'usage_report' as const,
    from: report.from.toISOString(),
    to: report.to.toISOString(),
    group_by: report.groupBy,
    data: report.rows.map((row) => rowJson(row, showCost)),
    totals: measuresJson(report.totals, showCost),
  };
}
