import { describe, expect, it } from 'vitest';
import { costOf } from '../../src/services/usage/cost.js';

const usage = (promptTokens: number, completionTokens: number, cachedTokens = 0) => ({
  promptTokens,
  completionTokens,
  cachedTokens,
  totalTokens: promptTokens + completionTokens,
  estimated: false,
});

describe('costOf', () => {
  it('prices cached prompt tokens apart, per million tokens', () => {
    const pricing = { input: 2.5, output: 10, cachedInput: 1.25 };
    // 800 fresh prompt tokens, 200 cached, 500 out.
    expect(costOf(usage(1000, 500, 200), pricing)).toBeCloseTo(
      (800 * 2.5 + 200 * 1.25 + 500 * 10) / 1e6,
      12,
    );
    expect(costOf(usage(1_000_000, 0), pricing)).toBe(2.5);
  });

  it('is zero for free models and never counts more cached tokens than the prompt had', () => {
    expect(costOf(usage(10, 10), { input: 0, output: 0, cachedInput: 0 })).toBe(0);
    expect(costOf(usage(10, 0, 50), { input: 1, output: 1, cachedInput: 0 })).toBe(0);
  });

  it('keeps ten decimals, as stored', () => {
    expect(costOf(usage(1, 0), { input: 0.0375, output: 0, cachedInput: 0 })).toBe(0.0000000375);
  });
});
