import type { LimitState } from './store.js';

/** A duration as OpenAI writes it in its headers: `20ms`, `1.5s`, `6m0s`. */
export function formatDuration(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  if (whole < 1000) return `${whole}ms`;
  const minutes = Math.floor(whole / 60_000);
  const seconds = Number(((whole % 60_000) / 1000).toFixed(3));
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}

/** The state a client should see for a kind: the one with the least room left. */
function tightest(states: LimitState[], kind: 'requests' | 'tokens'): LimitState | undefined {
  let best: LimitState | undefined;
  for (const state of states) {
    if (state.kind !== kind) continue;
    if (best === undefined || state.remaining < best.remaining) best = state;
  }
  return best;
}

/** OpenAI's `x-ratelimit-*` headers for the limits that applied; none when none did. */
export function rateLimitHeaders(states: LimitState[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const kind of ['requests', 'tokens'] as const) {
    const state = tightest(states, kind);
    if (state === undefined) continue;
    headers[`x-ratelimit-limit-${kind}`] = String(state.limit);
    headers[`x-ratelimit-remaining-${kind}`] = String(state.remaining);
    headers[`x-ratelimit-reset-${kind}`] = formatDuration(state.resetMs);
  }
  return headers;
}
