import { type EntityKind, iso } from './entity.js';

export type TenantStatus = 'provisioning' | 'active' | 'disabled' | 'deleting';
export const TENANT_STATUSES: readonly TenantStatus[] = [
  'provisioning',
  'active',
  'disabled',
  'deleting',
];

/** 2 to 63 lowercase letters, digits and '-': a tenant's name in URLs. */
export const TENANT_SLUG = /^[a-z0-9][a-z0-9-]{1,62}$/;

/** A tenant, as the control plane's registry keeps it; its data lives in its own database. */
export interface Tenant {
  id: string;
  slug: string;
  name: string;
  status: TenantStatus;
  databaseName: string;
  /** The server its database lives on, by name in `database_servers`; null: the default. */
  server: string | null;
  /** The models the tenant may use (platform admins set it); null: every configured model. */
  allowedModels: string[] | null;
  createdAt: Date;
  updatedAt: Date;
  /** When a deleted tenant is exported and its database dropped. */
  deleteAfter: Date | null;
}

/** Never the database's name: where the data lives is the operator's business. */
export function tenantJson(tenant: Tenant) {
  return {
    object: 'tenant' as const,
    id: tenant.id,
    slug: tenant.slug,
    name: tenant.name,
    status: tenant.status,
    server: tenant.server,
    allowed_models: tenant.allowedModels,
    created_at: tenant.createdAt.toISOString(),
    updated_at: tenant.updatedAt.toISOString(),
    delete_after: iso(tenant.deleteAfter),
  };
}

export const TENANT: EntityKind<Tenant> = {
  object: 'tenant',
  id: (tenant) => tenant.id,
  json: tenantJson,
};
