import { useState } from 'react';
import { api } from '../api.js';
import { TextField } from '../components/Fields.js';
import { FormSection } from '../components/FormSection.js';
import { KeyActions, useKeys } from '../components/KeyList.js';
import { ListSection } from '../components/ListSection.js';
import { Page } from '../components/Page.js';
import { ActionStatus } from '../components/Status.js';
import { useAction } from '../components/useAction.js';
import { time } from '../format.js';
import { useCan, useSession } from '../session.js';
import type { PlatformKey } from '../types.js';

const PATH = '/admin/v1/platform-keys';

function status(key: PlatformKey) {
  if (key.revoked_at) return <span className="badge disabled">revoked</span>;
  if (key.expires_at && new Date(key.expires_at) <= new Date())
    return <span className="badge disabled">expired</span>;
  return <span className="badge active">active</span>;
}

/** The platform admin keys: create (the secret shown once), rotate, revoke. */
export function PlatformKeysPage() {
  const { keys, reveal, revealed, rotate, revoke } = useKeys<PlatformKey>(PATH);
  const can = useCan();
  const { session } = useSession();
  const writes = can('platform_keys:write');
  const action = useAction();
  const [name, setName] = useState('');
  const [expires, setExpires] = useState('');

  const create = () =>
    action.run(async () => {
      const key = await api.post<PlatformKey>(PATH, {
        name,
        ...(expires ? { expires_at: `${expires}T00:00:00Z` } : {}),
      });
      setName('');
      setExpires('');
      reveal(`Secret of the new platform key ${key.name}`, key);
      keys.reload();
      return undefined;
    });

  return (
    <Page title="Platform keys">
      <p>
        Platform admin keys manage every tenant. The gateway refuses to revoke the last one that
        still works; the command line (<code>llm-backend admin-key</code>) can do everything this
        page does.
      </p>
      {revealed}
      {writes && (
        <FormSection
          title="Create a platform key"
          submit="Create platform key"
          action={action}
          onSubmit={create}
        >
          <TextField
            label="Key name"
            required
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
          <TextField
            label="Expires"
            type="date"
            value={expires}
            onChange={(e) => setExpires(e.target.value)}
            hint="Optional: the key stops at the start of this day (UTC)"
          />
        </FormSection>
      )}
      <ActionStatus action={action} />
      <ListSection
        title="All platform keys"
        resource={keys}
        what="platform keys"
        caption="Platform keys"
        rowKey={(k) => k.id}
        empty="No platform keys."
        columns={[
          { header: 'Name', cell: (k) => k.name },
          { header: 'ID', cell: (k) => <code>{k.id}</code> },
          { header: 'Prefix', cell: (k) => <code>{k.display_prefix}</code> },
          { header: 'Created', cell: (k) => time(k.created_at) },
          { header: 'Expires', cell: (k) => (k.expires_at ? time(k.expires_at) : '–') },
          { header: 'Last used', cell: (k) => (k.last_used_at ? time(k.last_used_at) : '–') },
          {
            header: 'Status',
            cell: (k) => (
              <>
                {status(k)}
                {k.id === session.key_id && ' (this session)'}
              </>
            ),
          },
          {
            header: 'Actions',
            cell: (k) =>
              !writes || k.revoked_at ? null : (
                <KeyActions
                  name={k.name}
                  noun="platform key"
                  onRotate={() => rotate(k)}
                  onRevoke={() => revoke(k)}
                  revokeWarning={
                    <>
                      {k.id === session.key_id
                        ? 'This is the key this session is signed in with: revoking it signs you out here and everywhere it is used. '
                        : ''}
                      The key stops at once on every instance, and every session signed in with it
                      ends. This cannot be undone.
                    </>
                  }
                />
              ),
          },
        ]}
      />
    </Page>
  );
}
