/**
 * The cache phase, for our gateway only and only when it has a response cache: its answers
 * carry `x-llm-backend-cache` once it is on. The bench tenant's cache is turned on for this phase alone
 * (every other phase sends the same request, which a cache would answer), one request fills
 * it, and the same request is then sent at 1 connection for latency and at saturation for
 * throughput. The fake upstream's count says how many were not hits. When the cache cannot
 * be turned on, or a repeated request is not a hit, the phase is "not available" and the run goes on.
 */
import { CACHE_HEADER, type CacheSwitch } from './llm-backend.js';
import type { LoadResult } from './protocol.js';

export type CacheMeasured =
  | { available: false; reason: string }
  | {
      available: true;
      /** The header on a repeated request once the cache was on. */
      header: string;
      c1: LoadResult;
      saturation: LoadResult;
      /** Requests that reached the upstream during each run: the misses. */
      upstreamCalls: { c1: number; saturation: number };
    };

/** Runs one measured phase (logs, Redis and PostgreSQL counts, as the other phases). */
export type Step = <T>(
  name: string,
  run: () => Promise<T>,
  describe: (result: T) => string,
  served: (result: T) => number,
) => Promise<T>;

export interface CacheRun {
  step: Step;
  load(connections: number, durationSec: number): Promise<LoadResult>;
  /** Chat requests the fake upstream has received so far. */
  received(): Promise<number>;
  latencySec: number;
  saturationSec: number;
  saturationConnections: number;
  describe: (result: LoadResult) => string;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

export async function measureCache(cache: CacheSwitch, run: CacheRun): Promise<CacheMeasured> {
  const notAvailable = (reason: string): CacheMeasured => ({ available: false, reason });
  // Turned on first: with caching off, answers carry no cache header at all. The bench
  // request has no temperature, so the tenant allows such requests to be cached too.
  try {
    await cache.setCache(true);
  } catch (error) {
    return notAvailable(`the tenant's cache could not be turned on (${message(error)})`);
  }
  try {
    await cache.probe();
    const header = await cache.probe();
    if (header === null || !/^hit\b/i.test(header)) {
      return notAvailable(
        `turned on, a repeated request was answered with ${CACHE_HEADER}: ${header ?? '(none)'}, not a hit`,
      );
    }
    const served = (r: LoadResult) => r.ok + r.non2xx;
    const start = await run.received();
    const c1 = await run.step(
      'cache 1c',
      () => run.load(1, run.latencySec),
      (r) => `cache hits, ${run.describe(r)}`,
      served,
    );
    const middle = await run.received();
    const saturation = await run.step(
      `cache ${run.saturationConnections}c`,
      () => run.load(run.saturationConnections, run.saturationSec),
      (r) => `cache hits, ${run.describe(r)}`,
      served,
    );
    const end = await run.received();
    return {
      available: true,
      header,
      c1,
      saturation,
      upstreamCalls: { c1: middle - start, saturation: end - middle },
    };
  } finally {
    // The cache stays a phase of its own; a failure to turn it off shows in the accounting.
    await cache.setCache(false).catch(() => {});
  }
}
