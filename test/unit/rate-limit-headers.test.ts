import { describe, expect, it } from 'vitest';
import { formatDuration, rateLimitHeaders } from '../../src/services/limits/headers.js';

describe('formatDuration', () => {
  it('writes durations as OpenAI does', () => {
    expect(formatDuration(0)).toBe('0ms');
    expect(formatDuration(20.2)).toBe('21ms');
    expect(formatDuration(1000)).toBe('1s');
    expect(formatDuration(1500)).toBe('1.5s');
    expect(formatDuration(60_000)).toBe('1m0s');
    expect(formatDuration(61_400)).toBe('1m1.4s');
    expect(formatDuration(360_000)).toBe('6m0s');
    expect(formatDuration(-5)).toBe('0ms');
  });
});

describe('rateLimitHeaders', () => {
  it('shows the tightest limit of each kind, and none for kinds without one', () => {
    const headers = rateLimitHeaders([
      { family: 'requests', limit: 100, remaining: 40, resetMs: 1000 },
      { family: 'requests', limit: 10, remaining: 3, resetMs: 2500 },
      { family: null, limit: 2, remaining: 0, resetMs: 0 },
    ]);
    expect(headers).toEqual({
      'x-ratelimit-limit-requests': '10',
      'x-ratelimit-remaining-requests': '3',
      'x-ratelimit-reset-requests': '2.5s',
    });
    expect(rateLimitHeaders([])).toEqual({});
  });
});
