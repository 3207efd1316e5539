import { useState } from 'react';
import { api, tenantPath } from '../api.js';
import { ConfirmButton } from '../components/ConfirmDialog.js';
import { DataTable } from '../components/DataTable.js';
import { FormRow, TextField } from '../components/Fields.js';
import { Page, Section } from '../components/Page.js';
import { ErrorMessage, Loaded, Notice } from '../components/Status.js';
import { useAction } from '../components/useAction.js';
import { time } from '../format.js';
import { useResource } from '../hooks.js';
import { useCan } from '../session.js';
import type { List, ProviderKey } from '../types.js';

/** The tenant's own provider keys: set or replace (never shown again), remove. */
export function ProviderKeysPage({ tenant }: { tenant: string }) {
  const keys = useResource<List<ProviderKey>>(tenantPath(tenant, '/provider-keys'));
  const can = useCan();
  const action = useAction();
  const [provider, setProvider] = useState('');
  const [secret, setSecret] = useState('');
  const save = () =>
    action.run(async () => {
      await api.put(tenantPath(tenant, `/provider-keys/${encodeURIComponent(provider.trim())}`), {
        api_key: secret,
      });
      setSecret('');
      keys.reload();
      return `The key for ${provider.trim()} was saved.`;
    });
  return (
    <Page title="Provider keys">
      {can('provider_keys:write') && (
        <Section title="Set a provider key">
          <FormRow
            label="Set a provider key"
            onSubmit={() => void save()}
            busy={action.busy}
            submit="Save key"
          >
            <TextField
              label="Provider"
              required
              value={provider}
              onChange={(e) => setProvider(e.target.value)}
              hint="The provider's id in the config file"
            />
            <TextField
              label="Provider API key"
              type="password"
              autoComplete="off"
              required
              value={secret}
              onChange={(e) => setSecret(e.target.value)}
            />
          </FormRow>
        </Section>
      )}
      <ErrorMessage message={action.error} />
      <Notice message={action.notice} />
      <Section title="Keys">
        <Loaded resource={keys} what="provider keys">
          {(list) => (
            <DataTable
              caption="Provider keys"
              rows={list.data}
              rowKey={(k) => k.provider}
              empty="No keys of the tenant's own: the platform's keys are used."
              columns={[
                { header: 'Provider', cell: (k) => k.provider },
                { header: 'Ends in', cell: (k) => <code>…{k.hint}</code> },
                { header: 'Updated', cell: (k) => time(k.updated_at) },
                { header: 'By', cell: (k) => k.updated_by },
                {
                  header: 'Actions',
                  cell: (k) =>
                    can('provider_keys:write') && (
                      <ConfirmButton
                        label={`Remove ${k.provider}`}
                        title={`Remove the key for ${k.provider}?`}
                        confirmLabel="Remove key"
                        onConfirm={async () => {
                          await api.delete(
                            tenantPath(tenant, `/provider-keys/${encodeURIComponent(k.provider)}`),
                          );
                          keys.reload();
                        }}
                      >
                        The platform&apos;s key is used again for this provider.
                      </ConfirmButton>
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
