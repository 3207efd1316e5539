import { useState } from 'react';
import { api, tenantPath } from '../api.js';
import { ConfirmButton } from '../components/ConfirmDialog.js';
import { DataTable } from '../components/DataTable.js';
import { FormRow, modelList, SelectField, TextField } from '../components/Fields.js';
import { Page, Section } from '../components/Page.js';
import { SecretReveal } from '../components/SecretReveal.js';
import { ErrorMessage, Loaded, Notice } from '../components/Status.js';
import { useAction } from '../components/useAction.js';
import { models, time } from '../format.js';
import { useResource } from '../hooks.js';
import { useCan } from '../session.js';
import { type ApiKey, type List, TENANT_ROLES } from '../types.js';

const roleOptions = TENANT_ROLES.map((role) => ({ value: role, label: role }));

/** The tenant's API keys: create (the secret shown once), rotate, revoke. */
export function ApiKeysPage({ tenant }: { tenant: string }) {
  const keys = useResource<List<ApiKey>>(tenantPath(tenant, '/api-keys'));
  const can = useCan();
  const writes = can('keys:write') || can('keys:write_own');
  const action = useAction();
  const [secret, setSecret] = useState<{ label: string; value: string } | null>(null);
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
      setSecret({ label: `Secret of the new key ${key.name}`, value: key.secret ?? '' });
      keys.reload();
      return undefined;
    });
  const rotate = async (key: ApiKey) => {
    const rotated = await api.post<ApiKey>(tenantPath(tenant, `/api-keys/${key.id}/rotate`), {});
    setSecret({ label: `New secret of ${key.name}`, value: rotated.secret ?? '' });
    keys.reload();
  };
  const revoke = async (key: ApiKey) => {
    await api.delete(tenantPath(tenant, `/api-keys/${key.id}`));
    keys.reload();
  };

  return (
    <Page title="API keys">
      {secret && (
        <SecretReveal label={secret.label} secret={secret.value} onDone={() => setSecret(null)} />
      )}
      {writes && (
        <Section title="Create a key">
          <FormRow
            label="Create a key"
            onSubmit={() => void create()}
            busy={action.busy}
            submit="Create key"
          >
            <TextField
              label="Key name"
              required
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
            {can('keys:write') && (
              <SelectField
                label="Role"
                options={roleOptions}
                value={role}
                onChange={(e) => setRole(e.target.value)}
              />
            )}
            <TextField
              label="User ID"
              value={userId}
              onChange={(e) => setUserId(e.target.value)}
              hint="Optional: usr_… the key belongs to"
            />
            <TextField
              label="Allowed models"
              value={allowed}
              onChange={(e) => setAllowed(e.target.value)}
              hint="Comma-separated; empty: no limit of its own"
            />
          </FormRow>
        </Section>
      )}
      <ErrorMessage message={action.error} />
      <Notice message={action.notice} />
      <Section title="All keys">
        <Loaded resource={keys} what="keys">
          {(list) => (
            <DataTable
              caption="API keys"
              rows={list.data}
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
                      <div className="actions">
                        <ConfirmButton
                          label={`Rotate ${k.name}`}
                          title={`Rotate key ${k.name}?`}
                          confirmLabel="Rotate"
                          danger={false}
                          onConfirm={() => rotate(k)}
                        >
                          The key gets a new secret; the old one keeps working for an hour.
                        </ConfirmButton>
                        <ConfirmButton
                          label={`Revoke ${k.name}`}
                          title={`Revoke key ${k.name}?`}
                          confirmLabel="Revoke key"
                          onConfirm={() => revoke(k)}
                        >
                          The key stops at once, old and new secrets alike. This cannot be undone.
                        </ConfirmButton>
                      </div>
                    ),
                },
              ]}
            />
          )}
        </Loaded>
      </Section>
    </Page>
  );
}
