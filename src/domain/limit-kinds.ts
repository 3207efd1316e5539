/**
 * The kinds of rate limit a rule can hold, in one table. A kind's name is its column in
 * `rate_limits`, its field in the admin API and the audit log, and (camel-cased) its option
 * in `LimitRuleService.set`. The admin API's schemas, the repository, the limiter, the
 * response headers and the docs table in docs/rate-limits.md are all read from here, so a
 * new kind is a row in this table, a tenant migration adding its column (listed in
 * storage/migrations/index.ts) and a row in the docs. The ledger counts windows of any length
 * (requests or tokens in `windowMs`) and concurrent requests.
 */

/** How a limit counts: a sliding window over `windowMs`, or requests running at once. */
export type LimitCounter =
  | { type: 'window'; of: 'requests' | 'tokens'; windowMs: number }
  | { type: 'concurrent' };

export interface LimitKindSpec {
  counter: LimitCounter;
  /**
   * Names its counters in the store, one per rule: unique among the kinds. The first kinds
   * kept the names their counters had before this table, so counters in Redis carried on
   * across that upgrade; a new kind takes its own name.
   */
  counterKey: string;
  /** Which of OpenAI's `x-ratelimit-*-{requests,tokens}` headers it feeds; null: none. */
  headers: 'requests' | 'tokens' | null;
  /** The refusal's words for it, as OpenAI writes them: `... on requests per min (RPM): ...`. */
  per: string;
  /** The 429 error's `type`. */
  errorType: 'requests' | 'tokens';
  /** What a value means, for the admin API and the docs. */
  description: string;
  min: number;
  max: number;
  /** A value for the API's examples; absent: left out of them. */
  example?: number;
}

const MINUTE_MS = 60_000;
/** Within PostgreSQL's integer. */
const MAX_LIMIT = 2_000_000_000;

export const LIMIT_KINDS = {
  requests_per_minute: {
    counter: { type: 'window', of: 'requests', windowMs: MINUTE_MS },
    counterKey: 'requests',
    headers: 'requests',
    per: 'requests per min (RPM)',
    errorType: 'requests',
    description: 'At most this many requests in any 60 seconds.',
    min: 1,
    max: MAX_LIMIT,
    example: 600,
  },
  tokens_per_minute: {
    counter: { type: 'window', of: 'tokens', windowMs: MINUTE_MS },
    counterKey: 'tokens',
    headers: 'tokens',
    per: 'tokens per min (TPM)',
    errorType: 'tokens',
    description: 'At most this many tokens, prompt and completion, in any 60 seconds.',
    min: 1,
    max: MAX_LIMIT,
    example: 200_000,
  },
  max_concurrent_requests: {
    counter: { type: 'concurrent' },
    counterKey: 'concurrent',
    headers: null,
    per: 'concurrent requests',
    errorType: 'requests',
    description: 'At most this many requests at once (a stream counts until it ends).',
    min: 1,
    max: MAX_LIMIT,
  },
} as const satisfies Record<string, LimitKindSpec>;

export type LimitKindName = keyof typeof LIMIT_KINDS;

/** The kinds, in the table's order (the order of the API's fields and the docs' rows). */
export const LIMIT_KIND_NAMES = Object.keys(LIMIT_KINDS) as [LimitKindName, ...LimitKindName[]];

export const limitKind = (name: LimitKindName): LimitKindSpec => LIMIT_KINDS[name];

/** Whether a request takes its reserved tokens from the kind (else 1 request or 1 slot). */
export const countsTokens = (spec: LimitKindSpec): boolean =>
  spec.counter.type === 'window' && spec.counter.of === 'tokens';

/** One value per kind, built in the table's order. */
export function perLimitKind<T>(
  make: (name: LimitKindName, spec: LimitKindSpec) => T,
): Record<LimitKindName, T> {
  return Object.fromEntries(
    LIMIT_KIND_NAMES.map((name) => [name, make(name, LIMIT_KINDS[name])]),
  ) as Record<LimitKindName, T>;
}

/** A rule's limits: one per kind, null where the rule sets none. */
export type LimitValues = Record<LimitKindName, number | null>;

type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;

/** `requests_per_minute` is `requestsPerMinute` in services' inputs. */
export type LimitOptionName = CamelCase<LimitKindName>;

export function optionName<K extends LimitKindName>(name: K): CamelCase<K> {
  return name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase()) as CamelCase<K>;
}

/** A rule's limits by option name, as `LimitRuleService.set` takes them. */
export type LimitOptions = { [K in LimitOptionName]?: number | null };

export function limitOptions(values: Partial<LimitValues>): LimitOptions {
  return Object.fromEntries(LIMIT_KIND_NAMES.map((name) => [optionName(name), values[name]]));
}
