import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../../src/errors/gateway-error.js';
import { FailureThrottle } from '../../src/services/keys/failure-throttle.js';

function refusal(throttle: FailureThrottle, client: string, now: number): GatewayError | null {
  try {
    throttle.check(client, now);
    return null;
  } catch (error) {
    return error as GatewayError;
  }
}

describe('FailureThrottle', () => {
  it('allows the limit of failures per window, then refuses until the window ends', () => {
    const throttle = new FailureThrottle(3, 60_000);
    for (let i = 0; i < 3; i++) {
      expect(refusal(throttle, 'a', 1000 + i)).toBeNull();
      throttle.fail('a', 1000 + i);
    }
    const refused = refusal(throttle, 'a', 11_000);
    expect(refused?.code).toBe('auth_rate_limited');
    expect(refused?.status).toBe(429);
    expect(refused?.headers).toEqual({ 'retry-after': '50', 'retry-after-ms': '50000' });
    // Other clients are not affected; the window ends on time.
    expect(refusal(throttle, 'b', 11_000)).toBeNull();
    expect(refusal(throttle, 'a', 61_000)).toBeNull();
    throttle.fail('a', 61_000);
    expect(refusal(throttle, 'a', 61_001)).toBeNull();
  });

  it('is off at 0 and stays bounded in memory', () => {
    const off = new FailureThrottle(0);
    for (let i = 0; i < 100; i++) off.fail('a', i);
    expect(refusal(off, 'a', 100)).toBeNull();

    const small = new FailureThrottle(1, 60_000, 2);
    small.fail('a', 0);
    small.fail('b', 0);
    small.fail('c', 0);
    // 'a' was the oldest and made room for 'c'.
    expect(refusal(small, 'a', 1)).toBeNull();
    expect(refusal(small, 'c', 1)?.code).toBe('auth_rate_limited');
  });
});
