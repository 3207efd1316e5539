import { useState } from 'react';
import { api, tenantPath } from '../api.js';
import { TextField } from '../components/Fields.js';
import { FormSection } from '../components/FormSection.js';
import { ListSection } from '../components/ListSection.js';
import { Page } from '../components/Page.js';
import { LiftButton, ScopeFields, useScope } from '../components/RuleSet.js';
import { ActionStatus } from '../components/Status.js';
import { useAction } from '../components/useAction.js';
import { number } from '../format.js';
import { useCollection } from '../hooks.js';
import { useCan } from '../session.js';
import type { RateLimit } from '../types.js';

const optionalInt = (text: string) => (text.trim() === '' ? undefined : Number(text));

/** Rate limits of the tenant, its users and its keys. */
export function LimitsPage({ tenant }: { tenant: string }) {
  const limits = useCollection<RateLimit>(tenantPath(tenant, '/limits'));
  const can = useCan();
  const action = useAction();
  const target = useScope();
  const [model, setModel] = useState('');
  const [rpm, setRpm] = useState('');
  const [tpm, setTpm] = useState('');
  const [concurrent, setConcurrent] = useState('');

  const save = () =>
    action.run(async () => {
      await api.post(tenantPath(tenant, '/limits'), {
        ...target.body,
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
        <FormSection title="Set a limit" submit="Save limit" action={action} onSubmit={save}>
          <ScopeFields target={target} />
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
        </FormSection>
      )}
      <ActionStatus action={action} />
      <ListSection
        title="Rules"
        resource={limits}
        what="limits"
        caption="Rate limits"
        rowKey={(l) => l.id}
        empty="No rate limits: only the platform's defaults apply."
        columns={[
          { header: 'Scope', cell: (l) => l.scope },
          { header: 'Subject', cell: (l) => l.subject_id ?? '–' },
          { header: 'Model', cell: (l) => l.model ?? 'All models' },
          { header: 'Requests/min', numeric: true, cell: (l) => number(l.requests_per_minute) },
          { header: 'Tokens/min', numeric: true, cell: (l) => number(l.tokens_per_minute) },
          { header: 'Concurrent', numeric: true, cell: (l) => number(l.max_concurrent_requests) },
          {
            header: 'Actions',
            cell: (l) =>
              can('limits:write') && (
                <LiftButton noun="limit" id={l.id} onConfirm={() => limits.remove(l.id)}>
                  Requests are no longer limited by this rule.
                </LiftButton>
              ),
          },
        ]}
      />
    </Page>
  );
}
