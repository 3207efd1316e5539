import { openRateLimitStore } from '../../src/services/limits/open-store.js';
import type { RateLimitStore } from '../../src/services/limits/store.js';
import { TEST_REDIS } from './services.js';

export const TEST_REDIS_URL = `redis://${TEST_REDIS.host}:${TEST_REDIS.port}`;

export type StoreKind = 'memory' | 'redis';
/** Both stores: the same cases run on the embedded default and on Redis. */
export const STORE_KINDS: StoreKind[] = ['memory', 'redis'];

/** A rate limit store of that kind, opened as the server opens it. */
export function openStore(
  kind: StoreKind,
  options: { clock?: () => number; url?: string; timeoutMs?: number } = {},
): RateLimitStore {
  return openRateLimitStore(kind === 'memory' ? null : (options.url ?? TEST_REDIS_URL), {
    timeoutMs: options.timeoutMs ?? 1000,
    clock: options.clock,
  });
}

/** Real time, moved forward by `skip` whenever a test needs to be later. */
export function shiftableClock(): { now: () => number; skip(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    skip: (ms) => {
      offset += ms;
    },
  };
}
