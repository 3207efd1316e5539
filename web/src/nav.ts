import type { Action } from './permissions.js';

/** The tenant pages, in menu order, with the permission that reads each one. */
export const TENANT_PAGES: { path: string; title: string; needs: Action }[] = [
  { path: 'overview', title: 'Overview', needs: 'usage:read' },
  { path: 'users', title: 'Users', needs: 'users:read' },
  { path: 'keys', title: 'API keys', needs: 'keys:read' },
  { path: 'models', title: 'Model access', needs: 'tenants:read' },
  { path: 'limits', title: 'Rate limits', needs: 'limits:read' },
  { path: 'quotas', title: 'Quotas and budgets', needs: 'limits:read' },
  { path: 'usage', title: 'Usage', needs: 'usage:read' },
  { path: 'audit', title: 'Audit log', needs: 'audit:read' },
  { path: 'webhooks', title: 'Webhooks', needs: 'webhooks:read' },
  { path: 'provider-keys', title: 'Provider keys', needs: 'provider_keys:read' },
  { path: 'cache', title: 'Response cache', needs: 'limits:read' },
  { path: 'invoices', title: 'Invoices', needs: 'billing:read' },
];

export const PLATFORM_PAGES = [
  { path: 'tenants', title: 'Tenants' },
  { path: 'servers', title: 'Database servers' },
  { path: 'deployments', title: 'Models and deployments' },
  { path: 'platform-keys', title: 'Platform keys' },
];
