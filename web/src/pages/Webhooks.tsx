import { useState } from 'react';
import { api, tenantPath } from '../api.js';
import { ConfirmButton } from '../components/ConfirmDialog.js';
import { TextField } from '../components/Fields.js';
import { FormSection } from '../components/FormSection.js';
import { ListSection, LoadedTable } from '../components/ListSection.js';
import { Page, Section } from '../components/Page.js';
import { SecretReveal } from '../components/SecretReveal.js';
import { ActionStatus } from '../components/Status.js';
import { useAction } from '../components/useAction.js';
import { time } from '../format.js';
import { useResource } from '../hooks.js';
import { useCan } from '../session.js';
import type { Delivery, List, Webhook } from '../types.js';

function Deliveries({ tenant, webhook }: { tenant: string; webhook: Webhook }) {
  const base = tenantPath(tenant, `/webhooks/${webhook.id}`);
  const deliveries = useResource<List<Delivery>>(`${base}/deliveries?limit=20`);
  const can = useCan();
  const action = useAction();
  return (
    <Section title={`Deliveries of ${webhook.url}`}>
      <ActionStatus action={action} />
      <LoadedTable
        resource={deliveries}
        what="deliveries"
        caption="Deliveries"
        rowKey={(d) => d.id}
        empty="Nothing was delivered yet."
        columns={[
          { header: 'Created', cell: (d) => time(d.created_at) },
          { header: 'Event', cell: (d) => d.event_type },
          { header: 'Status', cell: (d) => d.status },
          { header: 'Attempts', numeric: true, cell: (d) => d.attempt_count },
          { header: 'Last attempt', cell: (d) => time(d.last_attempt_at) },
          {
            header: 'Actions',
            cell: (d) =>
              can('webhooks:write') && (
                <button
                  type="button"
                  disabled={action.busy}
                  onClick={() =>
                    void action.run(async () => {
                      await api.post(`${base}/deliveries/${d.id}/redeliver`);
                      deliveries.reload();
                      return 'Sent again.';
                    })
                  }
                >
                  Redeliver {d.event_type}
                </button>
              ),
          },
        ]}
      />
    </Section>
  );
}

/** The tenant's webhooks: create (the signing secret shown once), test, disable, delete. */
export function WebhooksPage({ tenant }: { tenant: string }) {
  const hooks = useResource<List<Webhook>>(tenantPath(tenant, '/webhooks'));
  const can = useCan();
  const action = useAction();
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState('');
  const [secret, setSecret] = useState<string | null>(null);
  const [open, setOpen] = useState<Webhook | null>(null);

  const create = () =>
    action.run(async () => {
      const hook = await api.post<Webhook>(tenantPath(tenant, '/webhooks'), {
        url,
        event_types: events
          .split(',')
          .map((type) => type.trim())
          .filter(Boolean),
      });
      setUrl('');
      setEvents('');
      setSecret(hook.secret ?? null);
      hooks.reload();
      return undefined;
    });
  const path = (hook: Webhook, rest = '') => tenantPath(tenant, `/webhooks/${hook.id}${rest}`);

  return (
    <Page title="Webhooks">
      {secret && (
        <SecretReveal
          label="Signing secret of the new webhook"
          secret={secret}
          onDone={() => setSecret(null)}
        />
      )}
      {can('webhooks:write') && (
        <FormSection title="Add a webhook" submit="Add webhook" action={action} onSubmit={create}>
          <TextField
            label="URL"
            type="url"
            required
            value={url}
            onChange={(e) => setUrl(e.target.value)}
          />
          <TextField
            label="Event types"
            required
            value={events}
            onChange={(e) => setEvents(e.target.value)}
            hint="Comma-separated, e.g. quota.*, api_key.revoked"
          />
        </FormSection>
      )}
      <ActionStatus action={action} />
      <ListSection
        title="All webhooks"
        resource={hooks}
        what="webhooks"
        caption="Webhooks"
        rowKey={(h) => h.id}
        empty="No webhooks yet."
        columns={[
          { header: 'URL', cell: (h) => h.url },
          { header: 'Events', cell: (h) => h.event_types.join(', ') },
          {
            header: 'Status',
            cell: (h) => <span className={`badge ${h.status}`}>{h.status}</span>,
          },
          {
            header: 'Actions',
            cell: (h) => (
              <div className="actions">
                <button type="button" onClick={() => setOpen(h)}>
                  Deliveries
                </button>
                {can('webhooks:write') && (
                  <>
                    <button
                      type="button"
                      onClick={() =>
                        void action.run(async () => {
                          await api.post(path(h, '/test'));
                          return 'A webhook.test event was sent.';
                        })
                      }
                    >
                      Send test
                    </button>
                    <button
                      type="button"
                      onClick={() =>
                        void action.run(async () => {
                          await api.patch(path(h), {
                            status: h.status === 'active' ? 'disabled' : 'active',
                          });
                          hooks.reload();
                          return undefined;
                        })
                      }
                    >
                      {h.status === 'active' ? 'Disable' : 'Enable'}
                    </button>
                    <ConfirmButton
                      label="Delete"
                      title={`Delete the webhook to ${h.url}?`}
                      confirmLabel="Delete webhook"
                      onConfirm={async () => {
                        await api.delete(path(h));
                        if (open?.id === h.id) setOpen(null);
                        hooks.reload();
                      }}
                    >
                      The webhook and its deliveries are deleted.
                    </ConfirmButton>
                  </>
                )}
              </div>
            ),
          },
        ]}
      />
      {open && <Deliveries key={open.id} tenant={tenant} webhook={open} />}
    </Page>
  );
}
