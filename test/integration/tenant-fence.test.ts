import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  fenceLowered,
  MemoryTenantFence,
  RedisTenantFence,
  type TenantFence,
} from '../../src/services/tenancy/tenant-fence.js';
import { eventually } from '../helpers/gateway.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';

const redis = new Redis(TEST_REDIS_URL);
afterAll(() => redis.disconnect());

const kinds: [string, () => TenantFence][] = [
  ['memory', () => new MemoryTenantFence()],
  ['redis', () => new RedisTenantFence(redis)],
];

describe.each(kinds)('the tenant fence (%s)', (_kind, open) => {
  const tenant = () => `tnt_fence_${randomBytes(6).toString('hex')}`;

  it('is raised for one tenant only, until lowered', async () => {
    const fence = open();
    const [a, b] = [tenant(), tenant()];
    expect(await fence.raised(a)).toBe(false);
    await fence.raise(a, 60_000);
    expect(await fence.raised(a)).toBe(true);
    expect(await fence.raised(b)).toBe(false);
    await fence.lower(a);
    expect(await fence.raised(a)).toBe(false);
  });

  it('lapses by itself after its lifetime', async () => {
    const fence = open();
    const a = tenant();
    await fence.raise(a, 200);
    await eventually(async () => expect(await fence.raised(a)).toBe(false), 10_000);
  });

  it('lets a waiter through once lowered, and gives up after its bound', async () => {
    const fence = open();
    const a = tenant();
    await fence.raise(a, 60_000);
    expect(await fenceLowered(fence, a, 100)).toBe(false);
    const waiting = fenceLowered(fence, a, 30_000);
    await fence.lower(a);
    expect(await waiting).toBe(true);
  });
});
