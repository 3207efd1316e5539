/** A limit that applied to a request, as its headers tell it. */
export interface LimitState {
  /** Which of OpenAI's `x-ratelimit-*-{requests,tokens}` header sets it feeds; null: none. */
  family: 'requests' | 'tokens' | null;
  limit: number;
  remaining: number;
  resetMs: number;
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
function tightest(states: LimitState[], family: 'requests' | 'tokens'): LimitState | undefined {
  let best: LimitState | undefined;
  for (const state of states) {
    if (state.family !== family) continue;
    if (best === undefined || state.remaining < best.remaining) best = state;
  }
  return best;
}

/** OpenAI's `x-ratelimit-*` headers for the limits that applied; none when none did. */
export function rateLimitHeaders(states: LimitState[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const family of ['requests', 'tokens'] as const) {
    const state = tightest(states, family);
    if (state === undefined) continue;
    headers[`x-ratelimit-limit-${family}`] = String(state.limit);
    headers[`x-ratelimit-remaining-${family}`] = String(state.remaining);
    headers[`x-ratelimit-reset-${family}`] = formatDuration(state.resetMs);
  }
  return headers;
}
