import { LIMIT_KIND_NAMES, type LimitKindSpec, limitKind } from '../../domain/limit-kinds.js';
import type { LimitKind, LimitState } from './store.js';

type HeaderFamily = NonNullable<LimitKindSpec['headers']>;

/** Each `x-ratelimit-*-{family}` header set and the counters that feed it, from the catalogue. */
const FAMILIES = new Map<HeaderFamily, Set<LimitKind>>();
for (const name of LIMIT_KIND_NAMES) {
  const { headers, check } = limitKind(name);
  if (headers !== null) FAMILIES.set(headers, (FAMILIES.get(headers) ?? new Set()).add(check));
}

/** A duration as OpenAI writes it in its headers: `20ms`, `1.5s`, `6m0s`. */
export function formatDuration(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  if (whole < 1000) return `${whole}ms`;
  const minutes = Math.floor(whole / 60_000);
  const seconds = Number(((whole % 60_000) / 1000).toFixed(3));
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}

/** The state a client should see for a family: the one with the least room left. */
function tightest(states: LimitState[], kinds: Set<LimitKind>): LimitState | undefined {
  let best: LimitState | undefined;
  for (const state of states) {
    if (!kinds.has(state.kind)) continue;
    if (best === undefined || state.remaining < best.remaining) best = state;
  }
  return best;
}

/** OpenAI's `x-ratelimit-*` headers for the limits that applied; none when none did. */
export function rateLimitHeaders(states: LimitState[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [family, kinds] of FAMILIES) {
    const state = tightest(states, kinds);
    if (state === undefined) continue;
    headers[`x-ratelimit-limit-${family}`] = String(state.limit);
    headers[`x-ratelimit-remaining-${family}`] = String(state.remaining);
    headers[`x-ratelimit-reset-${family}`] = formatDuration(state.resetMs);
  }
  return headers;
}
