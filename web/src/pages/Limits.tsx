import { useState } from 'react';
import { api, tenantPath } from '../api.js';
import { ConfirmButton } from '../components/ConfirmDialog.js';
import { DataTable } from '../components/DataTable.js';
import { FormRow, SelectField, TextField } from '../components/Fields.js';
import { Page, Section } from '../components/Page.js';
import { ErrorMessage, Loaded, Notice } from '../components/Status.js';
import { useAction } from '../components/useAction.js';
import { number } from '../format.js';
import { useResource } from '../hooks.js';
import { useCan } from '../session.js';
import type { List, RateLimit } from '../types.js';

export const scopeOptions = [
  { value: 'tenant', label: 'Tenant' },
  { value: 'user', label: 'User' },
  { value: 'key', label: 'Key' },
];

const optionalInt = (text: string) => (text.trim() === '' ? undefined : Number(text));

/** Rate limits of the tenant, its users and its keys. */
export function LimitsPage({ tenant }: { tenant: string }) {
  const limits = useResource<List<RateLimit>>(tenantPath(tenant, '/limits'));
  const can = useCan();
  const action = useAction();
  const [scope, setScope] = useState('tenant');
  const [subject, setSubject] = useState('');
  const [model, setModel] = useState('');
  const [rpm, setRpm] = useState('');
  const [tpm, setTpm] = useState('');
  const [concurrent, setConcurrent] = useState('');

  const save = () =>
    action.run(async () => {
      await api.post(tenantPath(tenant, '/limits'), {
        scope,
        ...(scope !== 'tenant' ? { subject_id: subject.trim() } : {}),
        ...(model.trim() ? { model: model.trim() } : {}),
        requests_per_minute: optionalInt(rpm),
        tokens_per_minute: optionalInt(tpm),
        max_concurrent_requests: optionalInt(concurrent),
      });
      limits.reload();
      return 'The limit was saved.';
    });

  return (
    <Page title="Rate limits">
      {can('limits:write') && (
        <Section title="Set a limit">
          <FormRow
            label="Set a limit"
            onSubmit={() => void save()}
            busy={action.busy}
            submit="Save limit"
          >
            <SelectField
              label="Scope"
              options={scopeOptions}
              value={scope}
              onChange={(e) => setScope(e.target.value)}
            />
            {scope !== 'tenant' && (
              <TextField
                label="User or key ID"
                required
                value={subject}
                onChange={(e) => setSubject(e.target.value)}
              />
            )}
            <TextField
              label="Model"
              value={model}
              onChange={(e) => setModel(e.target.value)}
              hint="Empty: all models"
            />
            <TextField
              label="Requests per minute"
              inputMode="numeric"
              value={rpm}
              onChange={(e) => setRpm(e.target.value)}
            />
            <TextField
              label="Tokens per minute"
              inputMode="numeric"
              value={tpm}
              onChange={(e) => setTpm(e.target.value)}
            />
            <TextField
              label="Concurrent requests"
              inputMode="numeric"
              value={concurrent}
              onChange={(e) => setConcurrent(e.target.value)}
            />
          </FormRow>
        </Section>
      )}
      <ErrorMessage message={action.error} />
      <Notice message={action.notice} />
      <Section title="Rules">
        <Loaded resource={limits} what="limits">
          {(list) => (
            <DataTable
              caption="Rate limits"
              rows={list.data}
              rowKey={(l) => l.id}
              empty="No rate limits: only the platform's defaults apply."
              columns={[
                { header: 'Scope', cell: (l) => l.scope },
                { header: 'Subject', cell: (l) => l.subject_id ?? '–' },
                { header: 'Model', cell: (l) => l.model ?? 'All models' },
                {
                  header: 'Requests/min',
                  numeric: true,
                  cell: (l) => number(l.requests_per_minute),
                },
                { header: 'Tokens/min', numeric: true, cell: (l) => number(l.tokens_per_minute) },
                {
                  header: 'Concurrent',
                  numeric: true,
                  cell: (l) => number(l.max_concurrent_requests),
                },
                {
                  header: 'Actions',
                  cell: (l) =>
                    can('limits:write') && (
                      <ConfirmButton
                        label={`Lift limit ${l.id}`}
                        title="Lift this limit?"
                        confirmLabel="Lift limit"
                        onConfirm={async () => {
                          await api.delete(tenantPath(tenant, `/limits/${l.id}`));
                          limits.reload();
                        }}
                      >
                        Requests are no longer limited by this rule.
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
