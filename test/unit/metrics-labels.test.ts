import { describe, expect, it } from 'vitest';
import { ActiveCallers } from '../../src/observability/metrics/active-callers.js';
import { OTHER_TENANT, TenantLabels } from '../../src/observability/metrics/tenant-labels.js';

describe('TenantLabels', () => {
  it('labels the first N tenants by slug and every later one as other, for good', () => {
    const labels = new TenantLabels(2);
    labels.learn('tnt_a', 'acme');
    labels.learn('tnt_b', 'beta');
    labels.learn('tnt_c', 'gamma');
    // Learnt again (a key of it resolved again): nothing changes.
    labels.learn('tnt_a', 'acme');
    expect(['tnt_a', 'tnt_b', 'tnt_c'].map((id) => labels.of(id))).toEqual([
      'acme',
      'beta',
      OTHER_TENANT,
    ]);
  });

  it('makes every tenant other with a cap of 0, and one never learnt is other', () => {
    const none = new TenantLabels(0);
    none.learn('tnt_a', 'acme');
    expect(none.of('tnt_a')).toBe(OTHER_TENANT);
    expect(new TenantLabels(5).of('tnt_unknown')).toBe(OTHER_TENANT);
  });
});

describe('ActiveCallers', () => {
  it('counts distinct callers per tenant in the last 5 minutes and day, and forgets older ones', () => {
    let now = 0;
    const callers = new ActiveCallers(100, () => now);
    callers.touch('acme', 'key_1');
    callers.touch('acme', 'key_1');
    callers.touch('acme', 'key_2');
    callers.touch('beta', 'key_3');
    expect(callers.count().get('acme')).toEqual({ '5m': 2, '1d': 2 });
    now = 10 * 60_000;
    callers.touch('acme', 'key_2');
    expect(callers.count().get('acme')).toEqual({ '5m': 1, '1d': 2 });
    now = 25 * 60 * 60_000;
    expect(callers.count().get('beta')).toBeUndefined();
    expect(callers.count().get('acme')).toBeUndefined();
  });

  it('keeps at most maxEntries callers, forgetting the least recently seen first', () => {
    const callers = new ActiveCallers(2, () => 0);
    callers.touch('acme', 'key_1');
    callers.touch('acme', 'key_2');
    callers.touch('acme', 'key_1');
    callers.touch('acme', 'key_3');
    expect(callers.count().get('acme')).toEqual({ '5m': 2, '1d': 2 });
  });
});
