import type { FastifyInstance } from 'fastify';
import type { Services } from '../../composition/services.js';
import { requireKey } from '../../plugins/auth.js';
import { refuseNul } from '../../plugins/nul-guard.js';
import type { SessionGate } from '../../plugins/session-auth.js';
import type { Authenticator } from '../../services/keys/authenticator.js';
import type { DeploymentStatus } from '../../services/routing/deployment-state.js';
import { apiKeyRoutes } from './api-keys.js';
import { auditLogRoutes } from './audit-logs.js';
import { billingReportRoutes, creditRoutes, planRoutes } from './billing.js';
import { cacheRoutes } from './cache.js';
import { deploymentRoutes } from './deployments.js';
import { invoiceRoutes } from './invoices.js';
import { limitRoutes } from './limits.js';
import { platformKeyRoutes } from './platform-keys.js';
import { providerKeyRoutes } from './provider-keys.js';
import { quotaRoutes } from './quotas.js';
import { scopeToTenant } from './tenant-scope.js';
import { tenantRoutes } from './tenants.js';
import { usageRoutes } from './usage.js';
import { userRoutes } from './users.js';
import { webhookRoutes } from './webhooks.js';

export interface AdminDeps {
  authenticator: Authenticator;
  /** The admin panel's session cookie, taken as the session's key. */
  sessions: SessionGate;
  services: Services;
  /** The router's deployments as this instance sees them. */
  deployments: () => DeploymentStatus[];
}

/** /admin/v1: each route checks its own permission against the tenant in its URL, if any. */
export async function adminRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  requireKey(app, deps.authenticator, undefined, undefined, deps.sessions);
  // Before the tenant in the path is looked up.
  refuseNul(app);
  scopeToTenant(app, deps.services.tenants);
  const services = { ...deps.services };
  await app.register(tenantRoutes, { prefix: '/tenants', ...services });
  await app.register(apiKeyRoutes, { prefix: '/tenants/:tenant/api-keys', ...services });
  await app.register(userRoutes, { prefix: '/tenants/:tenant/users', ...services });
  await app.register(limitRoutes, { prefix: '/tenants/:tenant/limits', ...services });
  await app.register(quotaRoutes, { prefix: '/tenants/:tenant/quotas', ...services });
  await app.register(usageRoutes, { prefix: '/tenants/:tenant/usage', ...services });
  await app.register(auditLogRoutes, { prefix: '/tenants/:tenant/audit-logs', ...services });
  await app.register(webhookRoutes, { prefix: '/tenants/:tenant/webhooks', ...services });
  await app.register(providerKeyRoutes, { prefix: '/tenants/:tenant/provider-keys', ...services });
  await app.register(cacheRoutes, { prefix: '/tenants/:tenant/cache', ...services });
  await app.register(billingReportRoutes, { prefix: '/billing', ...services });
  await app.register(planRoutes, { prefix: '/tenants/:tenant/plan', ...services });
  await app.register(creditRoutes, { prefix: '/tenants/:tenant/credits', ...services });
  await app.register(invoiceRoutes, { prefix: '/tenants/:tenant/invoices', ...services });
  await app.register(platformKeyRoutes, { prefix: '/platform-keys', ...services });
  await app.register(deploymentRoutes, { prefix: '/deployments', deployments: deps.deployments });
}
