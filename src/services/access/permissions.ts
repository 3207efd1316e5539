import { GatewayError } from '../../errors/gateway-error.js';
import type { TenantRole } from '../../storage/tenant-schema.js';

/** Everything a caller can be allowed to do; routes authorize exactly one of these. */
export const ACTIONS = [
  'inference',
  'models:read',
  'tenants:create',
  'tenants:read',
  'tenants:update',
  'tenants:disable',
  'tenants:delete',
  'tenants:models',
  'users:read',
  'users:write',
  'keys:read',
  'keys:write',
  'keys:write_own',
  'audit:read',
  'usage:read',
  'billing:read',
  'billing:write',
  'billing:report',
  'limits:read',
  'limits:write',
  'webhooks:read',
  'webhooks:write',
  'provider_keys:read',
  'provider_keys:write',
  'deployments:read',
  'platform_keys:read',
  'platform_keys:write',
] as const;

export type Action = (typeof ACTIONS)[number];

// `satisfies` makes the compiler reject a role missing here when TenantRole grows.
const ROLES = {
  owner: true,
  admin: true,
  member: true,
  viewer: true,
  billing: true,
} as const satisfies Record<TenantRole, true>;

export const TENANT_ROLES = Object.keys(ROLES) as TenantRole[];

/**
 * Who is calling: the platform admin key, or a key of one tenant (with the user it belongs
 * to, if any). The role is the key's, which may be narrower than its user's.
 */
export type Principal =
  | { kind: 'platform'; keyId?: string }
  | { kind: 'tenant'; tenantId: string; role: TenantRole; userId: string | null; keyId: string };

const allow = (...roles: TenantRole[]): readonly TenantRole[] => roles;
const NOBODY = allow();
const MANAGERS = allow('owner', 'admin');

/**
 * The tenant roles allowed each action. The platform admin is allowed everything but the
 * data plane's `inference` (a platform key has no tenant to bill) and is not listed. `keys:read` for a member means its own keys only: the key service filters, since
 * the rule depends on the rows. docs/permissions.md shows this table, and a test keeps the two
 * equal.
 */
export const PERMISSION_MATRIX = {
  inference: allow('owner', 'admin', 'member'),
  'models:read': allow('owner', 'admin', 'member', 'viewer', 'billing'),
  // Creating and deleting tenants decides what the platform hosts: never a tenant's call.
  'tenants:create': NOBODY,
  'tenants:read': MANAGERS,
  'tenants:update': MANAGERS,
  'tenants:disable': NOBODY,
  'tenants:delete': NOBODY,
  // Which models a tenant may use is the platform's call: its own admins must not lift it.
  'tenants:models': NOBODY,
  'users:read': allow('owner', 'admin', 'viewer'),
  'users:write': MANAGERS,
  'keys:read': allow('owner', 'admin', 'member', 'viewer'),
  'keys:write': MANAGERS,
  'keys:write_own': allow('owner', 'admin', 'member'),
  'audit:read': MANAGERS,
  'usage:read': allow('owner', 'admin', 'member', 'viewer', 'billing'),
  'billing:read': allow('owner', 'admin', 'billing'),
  // What a tenant pays is the platform's call: no tenant role sets its own prices or credits,
  // finalizes, voids or marks paid its invoices, or sees other tenants' margins.
  'billing:write': NOBODY,
  'billing:report': NOBODY,
  'limits:read': allow('owner', 'admin', 'viewer'),
  'limits:write': MANAGERS,
  // Webhook URLs may carry a receiver's token, and a webhook sends the tenant's events out.
  'webhooks:read': MANAGERS,
  'webhooks:write': MANAGERS,
  // Viewers see which providers have a tenant key (never the key); only managers set one,
  // since it decides whose account the tenant's requests are billed to.
  'provider_keys:read': allow('owner', 'admin', 'viewer'),
  'provider_keys:write': MANAGERS,
  // The platform's upstreams, their load and health: nothing a tenant should see.
  'deployments:read': NOBODY,
  // The keys that run the whole platform: no tenant role sees or makes them.
  'platform_keys:read': NOBODY,
  'platform_keys:write': NOBODY,
} as const satisfies Record<Action, readonly TenantRole[]>;

/** What only a tenant's key can do: calls that are billed to a tenant. */
const TENANT_ONLY: readonly Action[] = ['inference'];

export function isAction(value: string): value is Action {
  return Object.hasOwn(PERMISSION_MATRIX, value);
}

/**
 * Whether the principal may do the action on the tenant with id `tenantId` (its own tenant
 * when omitted). Pass the tenant's id, not its slug: anything but the principal's own id is
 * refused, so a tenant key can never reach another tenant.
 */
export function can(principal: Principal, action: Action, tenantId?: string): boolean {
  // Fails closed on an action smuggled past the type (say, from a route table built at runtime).
  if (!isAction(action)) return false;
  if (principal.kind === 'platform') return !TENANT_ONLY.includes(action);
  if (tenantId !== undefined && tenantId !== principal.tenantId) return false;
  const roles: readonly TenantRole[] = PERMISSION_MATRIX[action];
  return roles.includes(principal.role);
}

/** `can`, throwing a 403 `permission_denied` when not allowed. */
export function authorize(principal: Principal, action: Action, tenantId?: string): void {
  if (can(principal, action, tenantId)) return;
  // The same message for another tenant as for a missing grant, so it reveals nothing of it.
  throw new GatewayError('permission_denied', {
    message: `This API key is not allowed to perform '${action}' here.`,
  });
}

/**
 * Whether a user of role `actor` may give someone the role `role` (on a user or a key). Only
 * owners make owners, so a tenant admin cannot promote itself past them. The platform admin
 * is not a tenant role: it may assign any role and needs no check.
 */
export function canAssignRole(actor: TenantRole, role: TenantRole): boolean {
  if (actor === 'owner') return true;
  if (actor === 'admin') return role !== 'owner';
  return false;
}

/**
 * Whether `role` allows nothing that `than` does not: what a key of a user may carry, since a
 * key's role may be narrower than its user's, never wider. Derived from the matrix, so it
 * follows the matrix when it changes.
 */
export function isWithinRole(role: TenantRole, than: TenantRole): boolean {
  return ACTIONS.every(
    (action) =>
      !(PERMISSION_MATRIX[action] as readonly TenantRole[]).includes(role) ||
      (PERMISSION_MATRIX[action] as readonly TenantRole[]).includes(than),
  );
}

/**
 * Changing a role needs the right to assign both the old and the new one, so an admin cannot
 * demote an owner either.
 */
export function canChangeRole(actor: TenantRole, from: TenantRole, to: TenantRole): boolean {
  return canAssignRole(actor, from) && canAssignRole(actor, to);
}
