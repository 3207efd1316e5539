import { useState } from 'react';
import { api, tenantPath } from '../api.js';
import { ConfirmButton } from '../components/ConfirmDialog.js';
import { modelList, TextField } from '../components/Fields.js';
import { FormSection } from '../components/FormSection.js';
import { ListSection } from '../components/ListSection.js';
import { Page } from '../components/Page.js';
import { ActionStatus } from '../components/Status.js';
import { AllowedModelsField, RoleField } from '../components/TenantFields.js';
import { useAction } from '../components/useAction.js';
import { models } from '../format.js';
import { useResource } from '../hooks.js';
import { useCan } from '../session.js';
import type { List, User } from '../types.js';

/** The tenant's users: add, disable and enable. */
export function UsersPage({ tenant }: { tenant: string }) {
  const users = useResource<List<User>>(tenantPath(tenant, '/users'));
  const can = useCan();
  const action = useAction();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState('member');
  const [allowed, setAllowed] = useState('');

  const create = () =>
    action.run(async () => {
      const user = await api.post<User>(tenantPath(tenant, '/users'), {
        email,
        name,
        role,
        allowed_models: modelList(allowed),
      });
      setEmail('');
      setName('');
      setAllowed('');
      users.reload();
      return `User ${user.email} added (${user.id}).`;
    });
  const setStatus = (user: User, status: User['status']) =>
    action.run(async () => {
      await api.patch(tenantPath(tenant, `/users/${user.id}`), { status });
      users.reload();
      return `User ${user.email} ${status === 'active' ? 'enabled' : 'disabled'}.`;
    });

  return (
    <Page title="Users">
      {can('users:write') && (
        <FormSection title="Add a user" submit="Add user" action={action} onSubmit={create}>
          <TextField
            label="Email"
            type="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
          <TextField label="Name" required value={name} onChange={(e) => setName(e.target.value)} />
          <RoleField value={role} onChange={setRole} />
          <AllowedModelsField
            value={allowed}
            onChange={setAllowed}
            hint="Comma-separated; empty: the tenant's"
          />
        </FormSection>
      )}
      <ActionStatus action={action} />
      <ListSection
        title="All users"
        resource={users}
        what="users"
        caption="Users"
        rowKey={(u) => u.id}
        empty="No users yet."
        columns={[
          { header: 'Email', cell: (u) => u.email },
          { header: 'Name', cell: (u) => u.name },
          { header: 'Role', cell: (u) => u.role },
          {
            header: 'Status',
            cell: (u) => <span className={`badge ${u.status}`}>{u.status}</span>,
          },
          { header: 'Models', cell: (u) => models(u.allowed_models) },
          { header: 'ID', cell: (u) => <code>{u.id}</code> },
          {
            header: 'Actions',
            cell: (u) =>
              !can('users:write') ? null : u.status === 'active' ? (
                <ConfirmButton
                  label={`Disable ${u.email}`}
                  title={`Disable ${u.email}?`}
                  confirmLabel="Disable user"
                  onConfirm={() => setStatus(u, 'disabled')}
                >
                  Every key of this user gets 403 until the user is enabled again.
                </ConfirmButton>
              ) : (
                <button type="button" onClick={() => void setStatus(u, 'active')}>
                  Enable {u.email}
                </button>
              ),
          },
        ]}
      />
    </Page>
  );
}
