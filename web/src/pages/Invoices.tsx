import { tenantPath } from '../api.js';
import { LoadedTable } from '../components/ListSection.js';
import { Page } from '../components/Page.js';
import { useResource } from '../hooks.js';
import type { Invoice, List } from '../types.js';

/** Invoices and credit notes, newest first, each with its printable HTML and CSV. */
export function InvoicesPage({ tenant }: { tenant: string }) {
  const invoices = useResource<List<Invoice>>(tenantPath(tenant, '/invoices'));
  return (
    <Page title="Invoices">
      <LoadedTable
        resource={invoices}
        what="invoices"
        caption="Invoices and credit notes"
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
    </Page>
  );
}
