import { useEffect, useState } from 'react';
import { api, tenantPath } from '../api.js';
import { FormRow, modelList, TextField } from '../components/Fields.js';
import { ListSection } from '../components/ListSection.js';
import { Page, Section } from '../components/Page.js';
import { ActionStatus, Loaded } from '../components/Status.js';
import { useAction } from '../components/useAction.js';
import { models } from '../format.js';
import { useResource } from '../hooks.js';
import { useCan } from '../session.js';
import type { List, Model, Tenant, User } from '../types.js';

/**
 * Which models the tenant, its users and its keys may use: the tenant's list is the
 * platform's to set; the users' lists narrow it (see docs/permissions.md#model-access).
 */
export function ModelAccessPage({ tenant }: { tenant: string }) {
  const can = useCan();
  const record = useResource<Tenant>(tenantPath(tenant));
  const users = useResource<List<User>>(can('users:read') ? tenantPath(tenant, '/users') : null);
  const available = useResource<List<Model>>('/v1/models');
  const action = useAction();
  const [tenantModels, setTenantModels] = useState('');
  useEffect(() => {
    if (record.data) setTenantModels((record.data.allowed_models ?? []).join(', '));
  }, [record.data]);

  const save = () =>
    action.run(async () => {
      await api.patch(tenantPath(tenant), { allowed_models: modelList(tenantModels) });
      record.reload();
      return 'The tenant’s models were saved.';
    });

  return (
    <Page title="Model access">
      <ActionStatus action={action} />
      <Section title="Tenant">
        <Loaded resource={record} what="the tenant">
          {(data) =>
            can('tenants:models') ? (
              <FormRow
                label="The tenant's models"
                onSubmit={() => void save()}
                busy={action.busy}
                submit="Save models"
              >
                <TextField
                  label="Models the tenant may use"
                  value={tenantModels}
                  onChange={(e) => setTenantModels(e.target.value)}
                  hint="Comma-separated; empty: every configured model"
                />
              </FormRow>
            ) : (
              <p>
                The tenant may use: <strong>{models(data.allowed_models)}</strong>. Only the
                platform&apos;s admins change this list; users and keys may narrow it.
              </p>
            )
          }
        </Loaded>
      </Section>
      {users.data !== null || users.error !== null ? (
        <ListSection
          title="Users"
          resource={users}
          what="users"
          caption="Models per user"
          rowKey={(u) => u.id}
          empty="No users yet."
          columns={[
            { header: 'User', cell: (u) => u.email },
            { header: 'Role', cell: (u) => u.role },
            { header: 'Models', cell: (u) => models(u.allowed_models) },
          ]}
        />
      ) : null}
      <ListSection
        title="Models this key can see"
        resource={available}
        what="models"
        caption="Visible models"
        rowKey={(m) => m.id}
        empty="No model is available."
        columns={[{ header: 'Model', cell: (m) => m.id }]}
      />
    </Page>
  );
}
