import { useState } from 'react';
import { api, tenantPath } from '../api.js';
import { modelList, TextField } from '../components/Fields.js';
import { FormSection } from '../components/FormSection.js';
import { KeyActions, useKeys } from '../components/KeyList.js';
import { ListSection } from '../components/ListSection.js';
import { Page } from '../components/Page.js';
import { ActionStatus } from '../components/Status.js';
import { AllowedModelsField, RoleField } from '../components/TenantFields.js';
import { useAction } from '../components/useAction.js';
import { models, time } from '../format.js';
import { useCan } from '../session.js';
import type { ApiKey } from '../types.js';

/** The tenant's API keys: create (the secret shown once), rotate, revoke. */
export function ApiKeysPage({ tenant }: { tenant: string }) {
  const { keys, reveal, revealed, rotate, revoke } = useKeys<ApiKey>(
    tenantPath(tenant, '/api-keys'),
  );
  const can = useCan();
  const writes = can('keys:write') || can('keys:write_own');
  const action = useAction();
  const [name, setName] = useState('');
  const [role, setRole] = useState('member');
  const [userId, setUserId] = useState('');
  const [allowed, setAllowed] = useState('');

  const create = () =>
    action.run(async () => {
      const key = await api.post<ApiKey>(tenantPath(tenant, '/api-keys'), {
        name,
        // A member's key takes its own role and user; the API fills them in.
        ...(can('keys:write') ? { role } : {}),
        ...(userId.trim() ? { user_id: userId.trim() } : {}),
        ...(modelList(allowed) ? { allowed_models: modelList(allowed) } : {}),
      });
      setName('');
      setUserId('');
      setAllowed('');
      reveal(`Secret of the new key ${key.name}`, key);
      keys.reload();
      return undefined;
    });

  return (
    <Page title="API keys">
      {revealed}
      {writes && (
        <FormSection title="Create a key" submit="Create key" action={action} onSubmit={create}>
          <TextField
            label="Key name"
            required
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
          {can('keys:write') && <RoleField value={role} onChange={setRole} />}
          <TextField
            label="User ID"
            value={userId}
            onChange={(e) => setUserId(e.target.value)}
            hint="Optional: usr_… the key belongs to"
          />
          <AllowedModelsField
            value={allowed}
            onChange={setAllowed}
            hint="Comma-separated; empty: no limit of its own"
          />
        </FormSection>
      )}
      <ActionStatus action={action} />
      <ListSection
        title="All keys"
        resource={keys}
        what="keys"
        caption="API keys"
        rowKey={(k) => k.id}
        empty="No keys yet."
        columns={[
          { header: 'Name', cell: (k) => k.name },
          { header: 'ID', cell: (k) => <code>{k.id}</code> },
          { header: 'Prefix', cell: (k) => <code>{k.display_prefix}</code> },
          { header: 'Role', cell: (k) => k.role },
          { header: 'User', cell: (k) => k.user_id ?? '–' },
          { header: 'Models', cell: (k) => models(k.allowed_models) },
          { header: 'Created', cell: (k) => time(k.created_at) },
          {
            header: 'Status',
            cell: (k) =>
              k.revoked_at ? (
                <span className="badge disabled">revoked</span>
              ) : (
                <span className="badge active">active</span>
              ),
          },
          {
            header: 'Actions',
            cell: (k) =>
              !writes || k.revoked_at ? null : (
                <KeyActions
                  name={k.name}
                  noun="key"
                  onRotate={() => rotate(k)}
                  onRevoke={() => revoke(k)}
                  revokeWarning="The key stops at once, old and new secrets alike. This cannot be undone."
                />
              ),
          },
        ]}
      />
    </Page>
  );
}
