import { useState } from 'react';
import { query, tenantPath } from '../api.js';
import { DataTable } from '../components/DataTable.js';
import { FormRow, TextField } from '../components/Fields.js';
import { Page, Section } from '../components/Page.js';
import { Loaded } from '../components/Status.js';
import { download } from '../download.js';
import { money, number } from '../format.js';
import { useResource } from '../hooks.js';
import type { UsageReport, UsageRow } from '../types.js';
import { usageCsv } from '../usage.js';

const GROUPS = ['day', 'model', 'user', 'key'] as const;

interface Filters {
  from: string;
  to: string;
  model: string;
  user_id: string;
  key_id: string;
  group_by: string[];
}

/** The usage explorer: filters, grouping, the rows with their totals, and a CSV export. */
export function UsagePage({ tenant }: { tenant: string }) {
  const [draft, setDraft] = useState<Filters>({
    from: '',
    to: '',
    model: '',
    user_id: '',
    key_id: '',
    group_by: ['day', 'model'],
  });
  const [applied, setApplied] = useState(draft);
  const report = useResource<UsageReport>(
    tenantPath(tenant, '/usage') +
      query({ ...applied, group_by: applied.group_by.join(',') || undefined }),
  );
  const set = (name: keyof Omit<Filters, 'group_by'>) => (event: { target: { value: string } }) =>
    setDraft({ ...draft, [name]: event.target.value });
  const toggle = (group: string) =>
    setDraft({
      ...draft,
      group_by: draft.group_by.includes(group)
        ? draft.group_by.filter((one) => one !== group)
        : GROUPS.filter((one) => one === group || draft.group_by.includes(one)),
    });

  return (
    <Page title="Usage">
      <Section title="Filters">
        <FormRow
          label="Usage filters"
          onSubmit={() => {
            // Applying the same filters again asks again: new usage may have come in.
            setApplied(draft);
            report.reload();
          }}
          busy={report.loading}
          submit="Apply filters"
        >
          <TextField label="From" type="date" value={draft.from} onChange={set('from')} />
          <TextField label="To" type="date" value={draft.to} onChange={set('to')} />
          <TextField label="Model" value={draft.model} onChange={set('model')} />
          <TextField label="User ID" value={draft.user_id} onChange={set('user_id')} />
          <TextField label="Key ID" value={draft.key_id} onChange={set('key_id')} />
          <fieldset className="groups">
            <legend>Group by</legend>
            {GROUPS.map((group) => (
              <label key={group}>
                <input
                  type="checkbox"
                  checked={draft.group_by.includes(group)}
                  onChange={() => toggle(group)}
                />{' '}
                {group}
              </label>
            ))}
          </fieldset>
        </FormRow>
      </Section>
      <Loaded resource={report} what="usage">
        {(data) => (
          <Section title="Report">
            <p>
              {data.from.slice(0, 10)} to {data.to.slice(0, 10)}: {number(data.totals.requests)}{' '}
              requests, {number(data.totals.input_tokens + data.totals.output_tokens)} tokens, cost{' '}
              {money(data.totals.cost)}.{' '}
              <button type="button" onClick={() => download(`usage-${tenant}.csv`, usageCsv(data))}>
                Export CSV
              </button>
            </p>
            <DataTable
              caption="Usage rows"
              rows={data.data}
              rowKey={(row: UsageRow) =>
                JSON.stringify([row.day, row.model, row.user_id, row.key_id])
              }
              empty="No usage in this period."
              columns={[
                ...(data.group_by.includes('day')
                  ? [{ header: 'Day', cell: (r: UsageRow) => r.day }]
                  : []),
                ...(data.group_by.includes('model')
                  ? [{ header: 'Model', cell: (r: UsageRow) => r.model }]
                  : []),
                ...(data.group_by.includes('user')
                  ? [{ header: 'User', cell: (r: UsageRow) => r.user_id ?? 'no user' }]
                  : []),
                ...(data.group_by.includes('key')
                  ? [{ header: 'Key', cell: (r: UsageRow) => r.key_id }]
                  : []),
                { header: 'Requests', numeric: true, cell: (r: UsageRow) => number(r.requests) },
                {
                  header: 'Input tokens',
                  numeric: true,
                  cell: (r: UsageRow) => number(r.input_tokens),
                },
                {
                  header: 'Output tokens',
                  numeric: true,
                  cell: (r: UsageRow) => number(r.output_tokens),
                },
                { header: 'Errors', numeric: true, cell: (r: UsageRow) => number(r.errors) },
                { header: 'Cost', numeric: true, cell: (r: UsageRow) => money(r.cost) },
              ]}
            />
          </Section>
        )}
      </Loaded>
    </Page>
  );
}
