import { GatewayError } from '../../errors/gateway-error.js';
import type { TenantRole } from '../../storage/tenant-schema.js';
import type { ApiKey, CreateKeyInput, KeyPrincipal } from '../keys/key-service.js';
import { can, canAssignRole } from './permissions.js';

/**
 * Whether the key is the caller's own: the key it calls with, or a key of its user. Members
 * see and manage only these (`keys:write_own`); managers and the platform admin, every key.
 */
export function ownsKey(principal: KeyPrincipal, key: ApiKey): boolean {
  if (principal.kind !== 'tenant') return false;
  return key.id === principal.keyId || (key.userId !== null && key.userId === principal.userId);
}

/**
 * Whether the caller may see `key`: a member its own keys only (the matrix grants it
 * `keys:read` for those), every other role with `keys:read` all of them.
 */
export function maySeeKey(principal: KeyPrincipal, key: ApiKey): boolean {
  if (principal.kind === 'tenant' && principal.role === 'member') return ownsKey(principal, key);
  return can(principal, 'keys:read', key.tenantId);
}

/** Whether the caller may rotate or revoke `key`: every key with `keys:write`, its own otherwise. */
export function mayChangeKey(principal: KeyPrincipal, key: ApiKey): boolean {
  return can(principal, 'keys:write', key.tenantId) || ownsKey(principal, key);
}

const refuse = (message: string, param: string) =>
  new GatewayError('permission_denied', { message, param });

/** A key request as the caller sent it: absent fields take the defaults of who is asking. */
export interface KeyRequest {
  name: string;
  role?: TenantRole;
  userId?: string | null;
  allowedModels?: string[] | null;
  expiresAt?: Date | null;
}

/**
 * The key a caller may create in `tenantId`, or a 403. With `keys:write`, any key whose role
 * the caller may assign. With only `keys:write_own`, a key of the caller's own user, with its
 * own role and at most its own models, so a member can never widen what it may do.
 */
export function grantKey(
  principal: KeyPrincipal,
  tenantId: string,
  request: KeyRequest,
): CreateKeyInput {
  if (principal.kind === 'platform') return { ...request, role: request.role ?? 'member' };
  if (can(principal, 'keys:write', tenantId)) {
    const role = request.role ?? 'member';
    if (!canAssignRole(principal.role, role))
      throw refuse(`This API key may not give the role '${role}'.`, 'role');
    return { ...request, role };
  }
  if (principal.userId === null)
    throw refuse('Only a key that belongs to a user may create keys for that user.', 'user_id');
  // Absent fields default to the caller's own; an explicit null (no user, every model) is
  // a wider key, and refused below.
  const userId = request.userId === undefined ? principal.userId : request.userId;
  if (userId !== principal.userId)
    throw refuse('This API key may create keys for its own user only.', 'user_id');
  const role = request.role ?? principal.role;
  if (role !== principal.role)
    throw refuse(`A key for oneself carries one's own role, '${principal.role}'.`, 'role');
  const mine = principal.allowedModels;
  const models = request.allowedModels === undefined ? mine : request.allowedModels;
  if (mine !== null && (models === null || models.some((model) => !mine.includes(model))))
    throw refuse(
      'A key for oneself may use only the models of the key that creates it.',
      'allowed_models',
    );
  return { ...request, userId, role, allowedModels: models };
}
