/** Tokens a request used, as the upstream reported them or as counted without its report. */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  totalTokens: number;
  /** True when the upstream reported none and the figures were counted with a tokenizer. */
  estimated: boolean;
}

/**
 * What one request that got a response used, as it is accounted: handed to the usage queue
 * by the request path, then written to its tenant's `usage_records`.
 */
export interface UsageRecord {
  /** Made by the gateway, once per request: what makes a redelivery count once. */
  id: string;
  at: Date;
  /** The x-request-id the client saw; clients may choose it, so it is not a key. */
  requestId: string;
  tenantId: string;
  userId: string | null;
  keyId: string;
  model: string;
  provider: string;
  usage: Usage;
  /** In the price table's currency. */
  cost: number;
  latencyMs: number;
  timeToFirstTokenMs: number | null;
  status: number;
  streamed: boolean;
  clientDisconnected: boolean;
  /** Answered from the response cache: no upstream call, held to no token quota. */
  cacheHit: boolean;
  /** For a cache hit, what the upstream would have cost (the stored answer's cost); else 0. */
  savedCost: number;
  /**
   * Served with the tenant's own provider key (see provider-keys.md): the provider bills the
   * tenant, so the cost is 0 and the charge the plan's BYOK fee. Absent: false.
   */
  byok?: boolean;
  /** A line of a Batch API batch, charged at the batch price. Absent: false. */
  batch?: boolean;
}

/** As it travels through a usage queue: the record, the time as an ISO string. */
export function usageRecordJson(record: UsageRecord) {
  return { ...record, at: record.at.toISOString() };
}
