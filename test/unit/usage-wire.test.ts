import { describe, expect, it } from 'vitest';
import { decodeUsageEvent, encodeUsageEvent } from '../../src/services/usage/usage-wire.js';
import { usageEvent } from '../helpers/usage-queues.js';

describe('usage events on the wire', () => {
  it('round-trips an event, its time included', () => {
    const event = usageEvent('tnt_a', {
      userId: 'usr_1',
      timeToFirstTokenMs: 80.5,
      streamed: true,
    });
    expect(decodeUsageEvent(encodeUsageEvent(event))).toEqual(event);
  });

  it.each([
    ['not JSON', '{nope'],
    ['not an object', '42'],
    ['no tenant', JSON.stringify({ ...usageEvent('x'), tenantId: undefined })],
    [
      'a negative token count',
      encodeUsageEvent(
        usageEvent('x', {
          usage: {
            promptTokens: -1,
            completionTokens: 0,
            cachedTokens: 0,
            totalTokens: 0,
            estimated: false,
          },
        }),
      ),
    ],
    ['a bad time', JSON.stringify({ ...usageEvent('x'), at: 'yesterday' })],
    ['a string cost', JSON.stringify({ ...usageEvent('x'), cost: '0.1' })],
  ])('reads %s as no event', (_what, text) => {
    expect(decodeUsageEvent(text)).toBeNull();
  });
});
