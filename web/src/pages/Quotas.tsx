import { useState } from 'react';
import { api, tenantPath } from '../api.js';
import { SelectField, TextField } from '../components/Fields.js';
import { FormSection } from '../components/FormSection.js';
import { ListSection } from '../components/ListSection.js';
import { Page } from '../components/Page.js';
import { LiftButton, ScopeFields, useScope } from '../components/RuleSet.js';
import { ActionStatus } from '../components/Status.js';
import { useAction } from '../components/useAction.js';
import { number, time } from '../format.js';
import { useCollection } from '../hooks.js';
import { useCan } from '../session.js';
import type { Quota } from '../types.js';

const metricOptions = [
  { value: 'tokens', label: 'Tokens' },
  { value: 'cost', label: 'Cost (US dollars)' },
  { value: 'charge', label: 'Charge (plan currency)' },
];
const periodOptions = [
  { value: 'day', label: 'Day' },
  { value: 'month', label: 'Month' },
  { value: 'total', label: 'Total' },
];

/** A quota's use: the amount, and a meter of how much of it is gone. */
export function QuotaUse({ quota }: { quota: Quota }) {
  const percent = quota.amount > 0 ? Math.min(100, (quota.used / quota.amount) * 100) : 0;
  const label = `${number(Math.round(quota.used * 1e6) / 1e6)} of ${number(quota.amount)}`;
  return (
    <span className="meter-cell">
      <meter min={0} max={100} value={percent} aria-label={`${quota.metric} used`} />
      <span>
        {label} ({percent.toFixed(1)}%)
      </span>
    </span>
  );
}

/** Token quotas and spend budgets, with what each target used this period. */
export function QuotasPage({ tenant }: { tenant: string }) {
  const quotas = useCollection<Quota>(tenantPath(tenant, '/quotas'));
  const can = useCan();
  const action = useAction();
  const target = useScope();
  const [metric, setMetric] = useState('tokens');
  const [period, setPeriod] = useState('month');
  const [amount, setAmount] = useState('');
  const [thresholds, setThresholds] = useState('');

  const save = () =>
    action.run(async () => {
      const marks = thresholds
        .split(',')
        .map((mark) => mark.trim())
        .filter((mark) => mark !== '')
        .map(Number);
      await api.post(tenantPath(tenant, '/quotas'), {
        ...target.body,
        metric,
        period,
        amount: Number(amount),
        ...(marks.length > 0 ? { thresholds: marks } : {}),
      });
      quotas.reload();
      return 'The quota was saved.';
    });

  return (
    <Page title="Quotas and budgets">
      {can('limits:write') && (
        <FormSection title="Set a quota" submit="Save quota" action={action} onSubmit={save}>
          <ScopeFields target={target} />
          <SelectField
            label="Metric"
            options={metricOptions}
            value={metric}
            onChange={(e) => setMetric(e.target.value)}
          />
          <SelectField
            label="Period"
            options={periodOptions}
            value={period}
            onChange={(e) => setPeriod(e.target.value)}
          />
          <TextField
            label="Amount"
            required
            inputMode="decimal"
            value={amount}
            onChange={(e) => setAmount(e.target.value)}
          />
          <TextField
            label="Alert thresholds (%)"
            value={thresholds}
            onChange={(e) => setThresholds(e.target.value)}
            hint="e.g. 50, 80, 100"
          />
        </FormSection>
      )}
      <ActionStatus action={action} />
      <ListSection
        title="Quotas"
        resource={quotas}
        what="quotas"
        caption="Quotas and budgets"
        rowKey={(q) => q.id}
        empty="No quotas or budgets."
        columns={[
          { header: 'Scope', cell: (q) => q.scope },
          { header: 'Subject', cell: (q) => q.subject_id ?? '–' },
          { header: 'Metric', cell: (q) => q.metric },
          { header: 'Period', cell: (q) => q.period },
          { header: 'Used', cell: (q) => <QuotaUse quota={q} /> },
          { header: 'Since', cell: (q) => time(q.period_start) },
          {
            header: 'Thresholds',
            cell: (q) => q.thresholds.map((t) => `${t}%`).join(', ') || '–',
          },
          {
            header: 'Actions',
            cell: (q) =>
              can('limits:write') && (
                <LiftButton noun="quota" id={q.id} onConfirm={() => quotas.remove(q.id)}>
                  The target is no longer held to this amount.
                </LiftButton>
              ),
          },
        ]}
      />
    </Page>
  );
}
