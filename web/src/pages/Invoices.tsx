import { tenantPath } from '../api.js';
import { DataTable } from '../components/DataTable.js';
import { Page } from '../components/Page.js';
import { Loaded } from '../components/Status.js';
import { useResource } from '../hooks.js';
import type { Invoice, List } from '../types.js';

/** Invoices and credit notes, newest first, each with its printable HTML and CSV. */
export function InvoicesPage({ tenant }: { tenant: string }) {
  const invoices = useResource<List<Invoice>>(tenantPath(tenant, '/invoices'));
  return (
    <Page title="Invoices">
      <Loaded resource={invoices} what="invoices">
        {(list) => (
          <DataTable
            caption="Invoices and credit notes"
            rows={list.data}
            rowKey={(i) => i.id}
            empty="No invoices yet: the first is made when a period is finalized."
            columns={[
              { header: 'Number', cell: (i) => i.number ?? 'draft' },
              { header: 'Kind', cell: (i) => (i.object === 'invoice' ? 'Invoice' : 'Credit note') },
              { header: 'Period', cell: (i) => i.period },
              { header: 'Status', cell: (i) => i.status },
              { header: 'Total', numeric: true, cell: (i) => `${i.total} ${i.currency}` },
              { header: 'Due', numeric: true, cell: (i) => `${i.amount_due} ${i.currency}` },
              {
                header: 'Documents',
                cell: (i) => (
                  <span className="actions">
                    <a
                      href={tenantPath(tenant, `/invoices/${i.id}/html`)}
                      target="_blank"
                      rel="noreferrer"
                    >
                      HTML<span className="visually-hidden"> of {i.number ?? i.id}</span>
                    </a>
                    <a href={tenantPath(tenant, `/invoices/${i.id}/csv`)}>
                      CSV<span className="visually-hidden"> of {i.number ?? i.id}</span>
                    </a>
                  </span>
                ),
              },
            ]}
          />
        )}
      </Loaded>
    </Page>
  );
}
