import { describe, expect, it } from 'vitest';
import { keySlot, SLOTS } from '../../src/storage/redis-slot.js';

describe('keySlot', () => {
  it('computes the slots the Redis Cluster specification gives', () => {
    // CRC16-XMODEM of "123456789" is 0x31C3, the specification's check value.
    expect(keySlot('123456789')).toBe(0x31c3 % SLOTS);
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('bar')).toBe(5061);
    expect(keySlot('')).toBe(0);
  });

  it('hashes only the hash tag when there is one, as the cluster does', () => {
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('{user1000}.followers')).toBe(keySlot('{user1000}.following'));
    expect(keySlot('llmb:{tnt_1}:rpm')).toBe(keySlot('tnt_1'));
    // An empty tag is no tag: the whole key is hashed.
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'));
    // Only the first `{` counts, up to the next `}`.
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'));
    expect(keySlot('foo{bar}{zap}')).toBe(keySlot('bar'));
    // Bytes, not characters.
    expect(keySlot('{é}a')).toBe(keySlot('é'));
  });
});
