import { useState } from 'react';
import { api, tenantPath } from '../api.js';
import { ConfirmButton } from '../components/ConfirmDialog.js';
import { TextField } from '../components/Fields.js';
import { FormSection } from '../components/FormSection.js';
import { ListSection } from '../components/ListSection.js';
import { Page } from '../components/Page.js';
import { ActionStatus } from '../components/Status.js';
import { useAction } from '../components/useAction.js';
import { time } from '../format.js';
import { useCollection } from '../hooks.js';
import { useCan } from '../session.js';
import type { ProviderKey } from '../types.js';

/** The tenant's own provider keys: set or replace (never shown again), remove. */
export function ProviderKeysPage({ tenant }: { tenant: string }) {
  const keys = useCollection<ProviderKey>(tenantPath(tenant, '/provider-keys'));
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
        <FormSection title="Set a provider key" submit="Save key" action={action} onSubmit={save}>
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
        </FormSection>
      )}
      <ActionStatus action={action} />
      <ListSection
        title="Keys"
        resource={keys}
        what="provider keys"
        caption="Provider keys"
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
                  onConfirm={() => keys.remove(encodeURIComponent(k.provider))}
                >
                  The platform&apos;s key is used again for this provider.
                </ConfirmButton>
              ),
          },
        ]}
      />
    </Page>
  );
}
