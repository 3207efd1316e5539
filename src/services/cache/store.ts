/** What a tenant's cache holds right now. */
export interface CacheStats {
  entries: number;
  bytes: number;
  /** Lookups answered from the cache and not, since the counters were last reset (a purge). */
  hits: number;
  misses: number;
}

/** One stored answer and when it was stored (ms since the epoch). */
export interface StoredValue {
  value: string;
  storedAt: number;
}

/**
 * Each tenant's exact response cache: entries with a lifetime each, and a size budget per
 * tenant. A store that would pass the budget first drops the tenant's oldest entries; an
 * entry larger than the whole budget is not stored. Values are opaque text; what they mean
 * is the response cache's business. Implementations: in process, and in Redis.
 */
export interface ResponseStore {
  get(tenantId: string, key: string): Promise<StoredValue | null>;
  /** Stores (or replaces) an entry; false when it cannot fit the budget at all. */
  put(
    tenantId: string,
    key: string,
    value: string,
    options: { ttlMs: number; budgetBytes: number },
  ): Promise<boolean>;
  /** Counts a lookup's outcome, for the stats. */
  count(tenantId: string, outcome: 'hit' | 'miss'): Promise<void>;
  stats(tenantId: string): Promise<CacheStats>;
  /** Drops every entry of the tenant and its counters; returns how many entries went. */
  purge(tenantId: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * Idempotency keys: a pending marker while the first request runs, then its answer. Values
 * are opaque text, as in the response store.
 */
export interface IdempotencyStore {
  /** Sets the value unless the key is taken; returns null when set, else what is there. */
  claim(tenantId: string, key: string, value: string, ttlMs: number): Promise<string | null>;
  /** Replaces the value (the answer after the pending marker). */
  set(tenantId: string, key: string, value: string, ttlMs: number): Promise<void>;
  /** Frees the key (the first request failed: a retry may run again). */
  release(tenantId: string, key: string): Promise<void>;
  close(): Promise<void>;
}

/** Bytes a value takes, as the budget counts them. */
export const sizeOf = (value: string) => Buffer.byteLength(value, 'utf8');
