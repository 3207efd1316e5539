import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import {
  ACTIONS,
  type Action,
  authorize,
  can,
  canAssignRole,
  canChangeRole,
  isWithinRole,
  PERMISSION_MATRIX,
  type Principal,
  TENANT_ROLES,
} from '../../src/services/access/permissions.js';
import type { TenantRole } from '../../src/storage/tenant-schema.js';

const doc = readFileSync(new URL('../../docs/permissions.md', import.meta.url), 'utf8');

/** The header and body rows of the first Markdown table under `## heading`. */
function table(heading: string): { header: string[]; rows: string[][] } {
  const lines = doc.split('\n');
  const start = lines.findIndex((line) => line.trim() === `## ${heading}`);
  if (start === -1) throw new Error(`no '## ${heading}' section in docs/permissions.md`);
  const cells: string[][] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^#{1,2} /.test(line)) break;
    if (line.trimStart().startsWith('|')) {
      cells.push(
        line
          .trim()
          .replace(/^\||\|$/g, '')
          .split('|')
          .map((cell) => cell.trim()),
      );
    } else if (cells.length > 0) {
      break;
    }
  }
  const [header, separator, ...rows] = cells;
  if (header === undefined || separator === undefined) throw new Error(`no table in ${heading}`);
  return { header, rows };
}

function mark(cell: string | undefined): boolean {
  if (cell === '✓') return true;
  if (cell === '–') return false;
  throw new Error(`unexpected cell '${cell}': use ✓ or –`);
}

const TENANT = 'tnt_0000000000acme0000000001';
const OTHER = 'tnt_0000000000globex00000001';
const PLATFORM: Principal = { kind: 'platform' };
const tenantKey = (role: TenantRole): Principal => ({
  kind: 'tenant',
  tenantId: TENANT,
  role,
  userId: 'usr_1',
  keyId: 'key_1',
});

describe('the permission matrix in docs/permissions.md', () => {
  const { header, rows } = table('Permission matrix');

  it('has the platform admin and every tenant role as columns, every action as a row', () => {
    expect(header).toEqual(['Action', 'platform admin', ...TENANT_ROLES]);
    expect(rows.map((row) => row[0])).toEqual(ACTIONS.map((action) => `\`${action}\``));
  });

  it.each(ACTIONS)('%s: can() gives each role what the table says', (action) => {
    const row = rows.find((cells) => cells[0] === `\`${action}\``);
    expect(row, `no row for ${action}`).toBeDefined();
    expect(mark(row?.[1]), 'platform admin').toBe(can(PLATFORM, action, TENANT));
    for (const [index, role] of TENANT_ROLES.entries()) {
      const documented = mark(row?.[index + 2]);
      expect(can(tenantKey(role), action, TENANT), `${role} in its own tenant`).toBe(documented);
      expect(can(tenantKey(role), action), `${role}, tenant implied`).toBe(documented);
    }
  });
});

describe('can', () => {
  it('lets the platform admin do everything but inference on every tenant, and without one', () => {
    for (const action of ACTIONS) {
      const expected = action !== 'inference';
      expect(can(PLATFORM, action), action).toBe(expected);
      expect(can(PLATFORM, action, TENANT), action).toBe(expected);
      expect(can(PLATFORM, action, OTHER), action).toBe(expected);
    }
  });

  it('never lets a tenant key act on another tenant, whatever its role', () => {
    for (const role of TENANT_ROLES) {
      for (const action of ACTIONS) {
        expect(can(tenantKey(role), action, OTHER), `${role} ${action}`).toBe(false);
        // A slug is not the tenant's id: refused rather than guessed at.
        expect(can(tenantKey(role), action, 'acme'), `${role} ${action} by slug`).toBe(false);
      }
    }
  });

  it('keeps creating and deleting tenants for the platform admin', () => {
    for (const role of TENANT_ROLES) {
      expect(can(tenantKey(role), 'tenants:create')).toBe(false);
      expect(can(tenantKey(role), 'tenants:disable', TENANT)).toBe(false);
      expect(can(tenantKey(role), 'tenants:delete', TENANT)).toBe(false);
    }
  });

  it('refuses an action that is not in the matrix, even to the platform admin', () => {
    const bogus = 'tenants:explode' as Action;
    expect(can(PLATFORM, bogus)).toBe(false);
    expect(can(tenantKey('owner'), bogus, TENANT)).toBe(false);
    expect(Object.keys(PERMISSION_MATRIX).sort()).toEqual([...ACTIONS].sort());
  });
});

describe('authorize', () => {
  it('returns quietly when allowed', () => {
    expect(() => authorize(tenantKey('member'), 'inference', TENANT)).not.toThrow();
    expect(() => authorize(PLATFORM, 'tenants:delete', OTHER)).not.toThrow();
  });

  it.each([
    ['a missing grant', tenantKey('viewer'), 'inference', TENANT],
    ['another tenant', tenantKey('owner'), 'users:read', OTHER],
    ['a platform-only action', tenantKey('owner'), 'tenants:create', undefined],
    ['inference with a platform key', PLATFORM, 'inference', undefined],
  ] as const)('throws a 403 permission_denied for %s', (_why, principal, action, tenantId) => {
    let thrown: unknown;
    try {
      authorize(principal, action, tenantId);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(GatewayError);
    expect(thrown).toMatchObject({
      code: 'permission_denied',
      status: 403,
      type: 'invalid_request_error',
    });
    const body = (thrown as GatewayError).toBody();
    expect(body.error.code).toBe('permission_denied');
    expect(body.error.message).not.toContain(OTHER);
  });
});

describe('assigning roles', () => {
  const { header, rows } = table('Assigning roles');

  it('matches the table in docs/permissions.md', () => {
    expect(header).toEqual(['Actor', ...TENANT_ROLES]);
    expect(rows.map((row) => row[0])).toEqual(TENANT_ROLES);
    for (const row of rows) {
      const actor = row[0] as TenantRole;
      for (const [index, role] of TENANT_ROLES.entries()) {
        expect(canAssignRole(actor, role), `${actor} assigns ${role}`).toBe(mark(row[index + 1]));
      }
    }
  });

  it('lets only owners make owners; admins assign the rest; others nothing', () => {
    expect(canAssignRole('owner', 'owner')).toBe(true);
    expect(canAssignRole('owner', 'billing')).toBe(true);
    expect(canAssignRole('admin', 'owner')).toBe(false);
    expect(canAssignRole('admin', 'admin')).toBe(true);
    expect(canAssignRole('admin', 'viewer')).toBe(true);
    for (const actor of ['member', 'viewer', 'billing'] as const) {
      for (const role of TENANT_ROLES) expect(canAssignRole(actor, role)).toBe(false);
    }
  });

  it('needs the right to both the old and the new role to change one', () => {
    expect(canChangeRole('admin', 'owner', 'member')).toBe(false);
    expect(canChangeRole('admin', 'member', 'owner')).toBe(false);
    expect(canChangeRole('admin', 'member', 'viewer')).toBe(true);
    expect(canChangeRole('owner', 'owner', 'member')).toBe(true);
    expect(canChangeRole('member', 'viewer', 'viewer')).toBe(false);
  });
});

describe('isWithinRole', () => {
  it('orders the roles by what they allow', () => {
    for (const role of TENANT_ROLES) expect(isWithinRole(role, role)).toBe(true);
    for (const role of TENANT_ROLES) expect(isWithinRole(role, 'owner'), role).toBe(true);
    expect(isWithinRole('member', 'admin')).toBe(true);
    expect(isWithinRole('viewer', 'admin')).toBe(true);
    expect(isWithinRole('admin', 'member')).toBe(false);
    // Neither holds the other: viewers read users, members call models.
    expect(isWithinRole('viewer', 'member')).toBe(false);
    expect(isWithinRole('member', 'viewer')).toBe(false);
    expect(isWithinRole('billing', 'member')).toBe(false);
  });
});
