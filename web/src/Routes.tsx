import type { ReactNode } from 'react';
import { Page } from './components/Page.js';
import { Empty } from './components/Status.js';
import { TENANT_PAGES } from './nav.js';
import { ApiKeysPage } from './pages/ApiKeys.js';
import { AuditPage } from './pages/Audit.js';
import { CachePage } from './pages/Cache.js';
import { DeploymentsPage } from './pages/Deployments.js';
import { InvoicesPage } from './pages/Invoices.js';
import { LimitsPage } from './pages/Limits.js';
import { ModelAccessPage } from './pages/ModelAccess.js';
import { OverviewPage } from './pages/Overview.js';
import { PlatformKeysPage } from './pages/PlatformKeys.js';
import { ProviderKeysPage } from './pages/ProviderKeys.js';
import { QuotasPage } from './pages/Quotas.js';
import { ServersPage } from './pages/Servers.js';
import { TenantsPage } from './pages/Tenants.js';
import { UsagePage } from './pages/Usage.js';
import { UsersPage } from './pages/Users.js';
import { WebhooksPage } from './pages/Webhooks.js';
import { Link } from './router.js';
import { useCan, useSession } from './session.js';

const tenantPages: Record<string, (props: { tenant: string }) => ReactNode> = {
  overview: OverviewPage,
  users: UsersPage,
  keys: ApiKeysPage,
  models: ModelAccessPage,
  limits: LimitsPage,
  quotas: QuotasPage,
  usage: UsagePage,
  audit: AuditPage,
  webhooks: WebhooksPage,
  'provider-keys': ProviderKeysPage,
  cache: CachePage,
  invoices: InvoicesPage,
};

const platformPages: Record<string, () => ReactNode> = {
  tenants: TenantsPage,
  servers: ServersPage,
  deployments: DeploymentsPage,
  'platform-keys': PlatformKeysPage,
};

function NotFound() {
  return (
    <Page title="Page not found">
      <Empty>
        There is no such page. <Link to="">Go to the start page</Link>.
      </Empty>
    </Page>
  );
}

/** The page for the path under /ui/; pages the role cannot read are not found. */
export function Routes({ path, tenant }: { path: string; tenant: string | null }) {
  const { session } = useSession();
  const can = useCan();
  const platform = session.principal.kind === 'platform';
  if (path === '') {
    if (platform) return <TenantsPage />;
    const first = TENANT_PAGES.find((page) => can(page.needs));
    const Start = first ? tenantPages[first.path] : undefined;
    return Start && tenant ? <Start tenant={tenant} /> : <NotFound />;
  }
  const platformPage = platformPages[path];
  if (platformPage && platform) {
    const Component = platformPage;
    return <Component />;
  }
  const match = /^t\/[^/]+\/([a-z-]+)$/.exec(path);
  const name = match?.[1];
  const entry = TENANT_PAGES.find((page) => page.path === name);
  const Component = name ? tenantPages[name] : undefined;
  if (!Component || !entry || !tenant || !can(entry.needs)) return <NotFound />;
  // Keyed by tenant: switching tenants starts each page afresh.
  return <Component key={`${tenant}/${name}`} tenant={tenant} />;
}
