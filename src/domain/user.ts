import type { EntityKind } from './entity.js';
import type { TenantRole } from './roles.js';

export type UserStatus = 'active' | 'disabled';
export const USER_STATUSES: readonly UserStatus[] = ['active', 'disabled'];

/** A person of a tenant, kept in the tenant's own database. */
export interface User {
  id: string;
  email: string;
  name: string;
  role: TenantRole;
  status: UserStatus;
  /** The models the user's keys may use, within the tenant's; null: no limit of its own. */
  allowedModels: string[] | null;
  createdAt: Date;
  updatedAt: Date;
}

export function userJson(user: User) {
  return {
    object: 'user' as const,
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    status: user.status,
    allowed_models: user.allowedModels,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
  };
}

export const USER: EntityKind<User> = { object: 'user', id: (user) => user.id, json: userJson };
