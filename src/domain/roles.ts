/** The roles a tenant's users and keys hold; what each may do is in services/access. */
export type TenantRole = 'owner' | 'admin' | 'member' | 'viewer' | 'billing';

/** Whom a rate limit or a quota binds: the whole tenant, one user (all its keys), or one key. */
export type LimitScope = 'tenant' | 'user' | 'key';
