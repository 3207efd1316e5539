import { useMemo } from 'react';
import { query, tenantPath } from '../api.js';
import { DayChart } from '../components/Chart.js';
import { ListSection } from '../components/ListSection.js';
import { Page, Section } from '../components/Page.js';
import { Loaded } from '../components/Status.js';
import { money, number } from '../format.js';
import { useResource } from '../hooks.js';
import { useCan } from '../session.js';
import type { List, Quota, UsageReport } from '../types.js';
import { monthStart, perDay } from '../usage.js';
import { QuotaUse } from './Quotas.js';

/** This month's requests, tokens and cost, by day and model, against the quotas and budgets. */
export function OverviewPage({ tenant }: { tenant: string }) {
  const can = useCan();
  const from = useMemo(() => monthStart(), []);
  const report = useResource<UsageReport>(
    tenantPath(tenant, '/usage') + query({ from, group_by: 'day,model' }),
  );
  const quotas = useResource<List<Quota>>(
    can('limits:read') ? tenantPath(tenant, '/quotas') : null,
  );
  const charts = useMemo(() => {
    const rows = report.data?.data ?? [];
    return {
      requests: perDay(rows, (row) => row.requests),
      tokens: perDay(rows, (row) => row.input_tokens + row.output_tokens),
    };
  }, [report.data]);

  return (
    <Page title="Overview">
      <Loaded resource={report} what="this month's usage">
        {(data) => (
          <>
            <Section title="This month">
              <dl className="stats">
                <div>
                  <dt>Requests</dt>
                  <dd>{number(data.totals.requests)}</dd>
                </div>
                <div>
                  <dt>Tokens</dt>
                  <dd>{number(data.totals.input_tokens + data.totals.output_tokens)}</dd>
                </div>
                <div>
                  <dt>Cost</dt>
                  <dd>{money(data.totals.cost)}</dd>
                </div>
                <div>
                  <dt>Errors</dt>
                  <dd>{number(data.totals.errors)}</dd>
                </div>
              </dl>
            </Section>
            <Section title="By day and model">
              {charts.requests.days.length === 0 ? (
                <p className="empty">No requests this month yet.</p>
              ) : (
                <div className="charts">
                  <DayChart title="Requests per day" {...charts.requests} />
                  <DayChart title="Tokens per day" {...charts.tokens} />
                </div>
              )}
            </Section>
          </>
        )}
      </Loaded>
      {can('limits:read') && (
        <ListSection
          title="Quotas and budgets"
          resource={quotas}
          what="quotas"
          caption="Quotas and budgets in use"
          rowKey={(q) => q.id}
          empty="No quotas or budgets are set."
          columns={[
            {
              header: 'Scope',
              cell: (q) => (q.subject_id ? `${q.scope} ${q.subject_id}` : q.scope),
            },
            { header: 'Metric', cell: (q) => `${q.metric} per ${q.period}` },
            { header: 'Used', cell: (q) => <QuotaUse quota={q} /> },
          ]}
        />
      )}
    </Page>
  );
}
