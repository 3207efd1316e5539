import { useState } from 'react';
import { api, tenantPath } from '../api.js';
import { ConfirmButton } from '../components/ConfirmDialog.js';
import { TextField } from '../components/Fields.js';
import { FormSection } from '../components/FormSection.js';
import { ListSection } from '../components/ListSection.js';
import { Page } from '../components/Page.js';
import { ActionStatus } from '../components/Status.js';
import { useAction } from '../components/useAction.js';
import { models, time } from '../format.js';
import { useCollection } from '../hooks.js';
import { Link } from '../router.js';
import { useCan } from '../session.js';
import type { Tenant } from '../types.js';

/** Platform: every tenant; create, disable and enable, delete (after the grace period). */
export function TenantsPage() {
  const tenants = useCollection<Tenant>('/admin/v1/tenants');
  const can = useCan();
  const action = useAction();
  const [slug, setSlug] = useState('');
  const [name, setName] = useState('');
  const [server, setServer] = useState('');

  const create = () =>
    action.run(async () => {
      const tenant = await api.post<Tenant>('/admin/v1/tenants', {
        slug,
        name,
        ...(server.trim() ? { server: server.trim() } : {}),
      });
      setSlug('');
      setName('');
      setServer('');
      tenants.reload();
      return `Tenant ${tenant.slug} created.`;
    });
  const setStatus = (tenant: Tenant, status: 'active' | 'disabled') =>
    action.run(async () => {
      await api.patch(tenantPath(tenant.slug), { status });
      tenants.reload();
      return `Tenant ${tenant.slug} ${status === 'active' ? 'enabled' : 'disabled'}.`;
    });

  return (
    <Page title="Tenants">
      {can('tenants:create') && (
        <FormSection
          title="Create a tenant"
          submit="Create tenant"
          action={action}
          onSubmit={create}
        >
          <TextField
            label="Slug"
            required
            pattern="[a-z0-9][a-z0-9-]{1,62}"
            value={slug}
            onChange={(e) => setSlug(e.target.value)}
            hint="2 to 63 of a-z, 0-9 and -"
          />
          <TextField label="Name" required value={name} onChange={(e) => setName(e.target.value)} />
          <TextField
            label="Database server"
            value={server}
            onChange={(e) => setServer(e.target.value)}
            hint="Optional: a name in database_servers"
          />
        </FormSection>
      )}
      <ActionStatus action={action} />
      <ListSection
        title="All tenants"
        resource={tenants}
        what="tenants"
        caption="Tenants"
        rowKey={(tenant) => tenant.id}
        empty="No tenants yet. Create the first one above."
        columns={[
          { header: 'Slug', cell: (t) => <Link to={`t/${t.slug}/overview`}>{t.slug}</Link> },
          { header: 'Name', cell: (t) => t.name },
          {
            header: 'Status',
            cell: (t) => <span className={`badge ${t.status}`}>{t.status}</span>,
          },
          { header: 'Server', cell: (t) => t.server ?? 'default' },
          { header: 'Models', cell: (t) => models(t.allowed_models) },
          { header: 'Deleted after', cell: (t) => time(t.delete_after) },
          {
            header: 'Actions',
            cell: (t) =>
              t.status === 'deleting' ? null : (
                <div className="actions">
                  {can('tenants:disable') && t.status === 'active' && (
                    <ConfirmButton
                      label={`Disable ${t.slug}`}
                      title={`Disable tenant ${t.slug}?`}
                      confirmLabel="Disable"
                      onConfirm={() => setStatus(t, 'disabled')}
                    >
                      Every key of the tenant gets 403 until it is enabled again.
                    </ConfirmButton>
                  )}
                  {can('tenants:disable') && t.status === 'disabled' && (
                    <button type="button" onClick={() => void setStatus(t, 'active')}>
                      Enable {t.slug}
                    </button>
                  )}
                  {can('tenants:delete') && (
                    <ConfirmButton
                      label={`Delete ${t.slug}`}
                      title={`Delete tenant ${t.slug}?`}
                      confirmLabel="Delete tenant"
                      // tenantPath encodes the slug the same way.
                      onConfirm={() => tenants.remove(encodeURIComponent(t.slug))}
                    >
                      Its keys stop at once. Its database is exported and dropped when the grace
                      period (TENANT_DELETION_GRACE_HOURS) is over.
                    </ConfirmButton>
                  )}
                </div>
              ),
          },
        ]}
      />
    </Page>
  );
}
