import { DataTable } from '../components/DataTable.js';
import { Page } from '../components/Page.js';
import { Loaded } from '../components/Status.js';
import { useResource } from '../hooks.js';
import type { List, Tenant } from '../types.js';

/**
 * Platform: the database servers tenants live on (the config file's `database_servers`),
 * with the tenants on each, as the tenant list names them.
 */
export function ServersPage() {
  const tenants = useResource<List<Tenant>>('/admin/v1/tenants');
  return (
    <Page title="Database servers">
      <p>
        Servers are configured in the config file&apos;s <code>database_servers</code>; a new
        tenant&apos;s database is created on the one its creator names.
      </p>
      <Loaded resource={tenants} what="servers">
        {(list) => {
          const byServer = new Map<string, Tenant[]>();
          for (const tenant of list.data) {
            const name = tenant.server ?? 'default';
            byServer.set(name, [...(byServer.get(name) ?? []), tenant]);
          }
          return (
            <DataTable
              caption="Database servers"
              rows={[...byServer.entries()]}
              rowKey={([name]) => name}
              empty="No tenant databases yet."
              columns={[
                { header: 'Server', cell: ([name]) => name },
                { header: 'Tenants', numeric: true, cell: ([, on]) => on.length },
                { header: 'Tenant slugs', cell: ([, on]) => on.map((t) => t.slug).join(', ') },
              ]}
            />
          );
        }}
      </Loaded>
    </Page>
  );
}
