/** Attempts per delivery round: the first, then up to 7 retries. */
export const MAX_ATTEMPTS = 8;
/** Each retry may wait up to this many times longer than the one before. */
const GROWTH = 5;

/**
 * How long to wait after the `attempts`-th failed attempt, or null when that was the last.
 * Exponential with full jitter: a random wait from 0 up to base × 5^(attempts−1), so
 * receivers that failed together are not retried together. With the default base of 5 s the
 * caps are 5 s, 25 s, 2 min, 10 min, 52 min, 4.3 h and 21.7 h: the last attempt comes at
 * most about 27 hours after the first, about 13.5 hours on average.
 */
export function retryDelayMs(
  attempts: number,
  baseMs: number,
  random = Math.random,
): number | null {
  if (attempts >= MAX_ATTEMPTS) return null;
  const cap = baseMs * GROWTH ** Math.max(0, attempts - 1);
  return Math.floor(random() * cap);
}
