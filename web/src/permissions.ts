import type { Principal, TenantRole } from './types.js';

/**
 * The permission matrix of docs/permissions.md, for hiding what a role cannot do. The API
 * checks every call anyway; this only keeps buttons that would be refused off the page.
 */
export type Action =
  | 'tenants:create'
  | 'tenants:read'
  | 'tenants:update'
  | 'tenants:disable'
  | 'tenants:delete'
  | 'tenants:models'
  | 'users:read'
  | 'users:write'
  | 'keys:read'
  | 'keys:write'
  | 'keys:write_own'
  | 'audit:read'
  | 'usage:read'
  | 'billing:read'
  | 'billing:write'
  | 'limits:read'
  | 'limits:write'
  | 'webhooks:read'
  | 'webhooks:write'
  | 'provider_keys:read'
  | 'provider_keys:write'
  | 'platform_keys:read'
  | 'platform_keys:write';

const RUN_TENANT: Action[] = [
  'tenants:read',
  'tenants:update',
  'users:read',
  'users:write',
  'keys:read',
  'keys:write',
  'keys:write_own',
  'audit:read',
  'usage:read',
  'billing:read',
  'limits:read',
  'limits:write',
  'webhooks:read',
  'webhooks:write',
  'provider_keys:read',
  'provider_keys:write',
];

const ROLES: Record<TenantRole, ReadonlySet<Action>> = {
  owner: new Set(RUN_TENANT),
  admin: new Set(RUN_TENANT),
  member: new Set<Action>(['keys:read', 'keys:write_own', 'usage:read']),
  viewer: new Set<Action>([
    'users:read',
    'keys:read',
    'usage:read',
    'limits:read',
    'provider_keys:read',
  ]),
  billing: new Set<Action>(['usage:read', 'billing:read']),
};

export function can(principal: Principal, action: Action): boolean {
  if (principal.kind === 'platform') return true;
  return ROLES[principal.role].has(action);
}
