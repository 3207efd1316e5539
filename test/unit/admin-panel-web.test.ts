import { describe, expect, it } from 'vitest';
import {
  PERMISSION_MATRIX,
  can as serverCan,
  TENANT_ROLES,
} from '../../src/services/access/permissions.js';
import { type Action, can } from '../../web/src/permissions.js';
import type { Principal, UsageReport } from '../../web/src/types.js';
import { monthStart, perDay, usageCsv } from '../../web/src/usage.js';

describe("the admin panel's copy of the permission matrix", () => {
  // The panel hides what a role may not do; the gateway decides. They must agree, or the
  // panel shows buttons the API refuses, or hides ones it would allow.
  const panelActions = Object.keys(PERMISSION_MATRIX).filter(
    (action): action is Action =>
      !['inference', 'models:read', 'billing:report', 'deployments:read'].includes(action),
  );

  it.each(TENANT_ROLES)('agrees with the gateway for %s', (role) => {
    const principal: Principal = {
      kind: 'tenant',
      tenant_id: 't',
      tenant_name: 'T',
      role,
      user_id: null,
    };
    const gateway = { kind: 'tenant', tenantId: 't', role, userId: null, keyId: 'k' } as const;
    for (const action of panelActions)
      expect([action, can(principal, action)]).toEqual([action, serverCan(gateway, action)]);
  });

  it('lets a platform admin do everything the panel shows', () => {
    for (const action of panelActions) expect(can({ kind: 'platform' }, action)).toBe(true);
  });
});

const measures = {
  requests: 2,
  input_tokens: 9,
  output_tokens: 4,
  cached_tokens: 0,
  cost: 0.5,
  errors: 0,
  streamed: 0,
  cache_hits: 0,
  saved_tokens: 0,
  saved_cost: null,
};
const report: UsageReport = {
  from: '2026-12-01T00:00:00.000Z',
  to: '2026-12-03T00:00:00.000Z',
  group_by: ['day', 'model', 'user'],
  data: [
    { day: '2026-12-02', model: 'b', user_id: null, ...measures },
    { day: '2026-12-01', model: 'a, "quoted"', user_id: 'usr_1', ...measures, requests: 1 },
  ],
  totals: measures,
};

describe("the usage explorer's helpers", () => {
  it('writes the report as CSV, quoting what needs it and leaving nulls empty', () => {
    const lines = usageCsv(report).trimEnd().split('\n');
    expect(lines[0]).toBe(
      'day,model,user_id,requests,input_tokens,output_tokens,cached_tokens,cost,errors,streamed,cache_hits,saved_tokens,saved_cost',
    );
    expect(lines[1]).toBe('2026-12-02,b,,2,9,4,0,0.5,0,0,0,0,');
    expect(lines[2]).toBe('2026-12-01,"a, ""quoted""",usr_1,1,9,4,0,0.5,0,0,0,0,');
  });

  it('charts one series per model over the days in order, 0 where a day has none', () => {
    expect(perDay(report.data, (row) => row.requests)).toEqual({
      days: ['2026-12-01', '2026-12-02'],
      series: [
        { label: 'a, "quoted"', values: [1, 0] },
        { label: 'b', values: [0, 2] },
      ],
    });
    expect(perDay([], (row) => row.requests)).toEqual({ days: [], series: [] });
  });

  it('starts the month on its first UTC day', () => {
    expect(monthStart(new Date('2026-12-31T23:59:59Z'))).toBe('2026-12-01');
  });
});
