import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import {
  checkWithin,
  intersectModels,
  MAX_ALLOWED_MODELS,
  validAllowedModels,
} from '../../src/services/access/model-access.js';

function refusal(run: () => unknown): GatewayError {
  try {
    run();
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('intersectModels', () => {
  it('treats null as no limit and keeps what every list allows', () => {
    expect(intersectModels(null, null, null)).toBeNull();
    expect(intersectModels(['a', 'b'], null, null)).toEqual(['a', 'b']);
    expect(intersectModels(null, ['b', 'c'], ['c', 'b', 'd'])).toEqual(['b', 'c']);
    expect(intersectModels(['a', 'b', 'c'], ['b', 'c'], ['c'])).toEqual(['c']);
    // Nothing in common is nothing allowed, not "no limit".
    expect(intersectModels(['a'], ['b'])).toEqual([]);
  });
});

describe('validAllowedModels', () => {
  it('accepts null and lists of names, dropping duplicates', () => {
    expect(validAllowedModels(null)).toBeNull();
    expect(validAllowedModels(['a', 'org/b', 'a'])).toEqual(['a', 'org/b']);
    expect(
      validAllowedModels(Array.from({ length: MAX_ALLOWED_MODELS }, (_, i) => `m${i}`)),
    ).toHaveLength(MAX_ALLOWED_MODELS);
  });

  it.each([
    ['a string', 'a'],
    ['undefined', undefined],
    ['an empty list', []],
    ['an empty name', ['a', '']],
    ['a blank name', [' ']],
    ['a number', [7]],
    ['too many', Array.from({ length: MAX_ALLOWED_MODELS + 1 }, (_, i) => `m${i}`)],
    ['a long name', ['x'.repeat(257)]],
  ])('refuses %s with 400 on allowed_models', (_why, value) => {
    const error = refusal(() => validAllowedModels(value));
    expect([error.status, error.code, error.param]).toEqual([
      400,
      'invalid_request',
      'allowed_models',
    ]);
  });
});

describe('checkWithin', () => {
  it('passes lists inside the level above, and anything under no limit', () => {
    expect(() => checkWithin(['a'], ['a', 'b'], 'the tenant')).not.toThrow();
    expect(() => checkWithin(['z'], null, 'the tenant')).not.toThrow();
    expect(() => checkWithin(null, ['a'], 'the tenant')).not.toThrow();
  });

  it('names the models outside and the level they leave', () => {
    const error = refusal(() => checkWithin(['a', 'c', 'd'], ['a', 'b'], 'the user'));
    expect(error.param).toBe('allowed_models');
    expect(error.message).toContain("the user may not use: 'c', 'd'");
    expect(error.message).toContain("The user may use 'a', 'b'");
  });
});
