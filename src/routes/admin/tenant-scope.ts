import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Actor } from '../../domain/audit-entry.js';
import type { Tenant } from '../../domain/tenant.js';
import { bindToLog } from '../../plugins/request-context.js';
import { type Action, authorize } from '../../services/access/permissions.js';
import type { TenantService } from '../../services/tenancy/tenant-service.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a tenant-scoped admin route does, checked before its body is even validated. */
    action?: Action;
  }
  interface FastifyRequest {
    tenant: Tenant | null;
  }
}

/**
 * Resolves the tenant in the URL and checks the route's action on it, right after the key is
 * resolved. A tenant key naming another tenant's id or slug is refused before it is looked
 * up, so the answer tells nothing of that tenant, and a caller without the right never gets a
 * validation error. A route without a tenant in its URL is about the caller's own tenant, or
 * about the platform for a platform key.
 */
export function scopeToTenant(app: FastifyInstance, tenants: TenantService): void {
  app.decorateRequest('tenant', null);
  app.addHook('onRequest', async (request) => {
    const action = request.routeOptions.config.action;
    const principal = request.principal;
    if (action === undefined || principal === null) return;
    const ref = tenantParam(request.params);
    if (principal.kind === 'platform') {
      authorize(principal, action);
      request.tenant = ref === undefined ? null : await tenants.get(ref);
      // The request's log lines name the tenant a platform key acts on, as a tenant key's do.
      if (request.tenant !== null) bindToLog(request, { tenantId: request.tenant.id });
      return;
    }
    const own = await tenants.get(principal.tenantId);
    const target =
      ref === undefined || ref === own.id || ref === own.slug ? own.id : `other:${ref}`;
    authorize(principal, action, target);
    request.tenant = own;
  });
}

/** The `:tenant` of the URL; a hook sees the params before any route's schema types them. */
function tenantParam(params: unknown): string | undefined {
  if (typeof params !== 'object' || params === null || !('tenant' in params)) return undefined;
  return typeof params.tenant === 'string' ? params.tenant : undefined;
}

/** The tenant scopeToTenant resolved for this request. */
export function tenantOf(request: FastifyRequest): Tenant {
  if (request.tenant === null) throw new Error('route is missing config.action or :tenant');
  return request.tenant;
}

/**
 * The audit log's actor for an admin API request: the key, or the user of a single sign-on
 * session (which acts under no key).
 */
export function actorOf(request: FastifyRequest): Actor {
  const subject = request.session?.record.subject;
  const user = subject?.kind === 'user' ? subject.userId : null;
  return {
    type: user !== null ? 'user' : request.principal?.kind === 'platform' ? 'platform_key' : 'key',
    id: user ?? request.principal?.keyId ?? null,
    ip: request.ip,
    userAgent: request.headers['user-agent'] ?? null,
    requestId: request.id,
  };
}
