/**
 * A usage record's charge as its columns hold it (services/billing/charge.ts computes it):
 * micro-units of the plan's currency, per part, and what it is for.
 */
export interface ChargeParts {
  planId: string | null;
  basis: string;
  input: number;
  cached: number;
  output: number;
  other: number;
}

/** Unbilled usage summed per period, model, plan version and basis: one invoice line group. */
export interface UsageGroup {
  /** `2026-10`: the month of the records' time, UTC. */
  period: string;
  model: string;
  planId: string | null;
  basis: string;
  requests: number;
  /** Prompt tokens not read from the provider's cache. */
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
  charge: { input: number; cached: number; output: number; other: number };
  /** Provider cost, in dollars (exact decimal string). */
  cost: string;
}
