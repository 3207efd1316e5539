import { ListSection } from '../components/ListSection.js';
import { Page } from '../components/Page.js';
import { number } from '../format.js';
import { useResource } from '../hooks.js';
import type { Deployment, List, Model } from '../types.js';

const CIRCUIT: Record<Deployment['circuit_state'], string> = {
  closed: 'closed (serving)',
  half_open: 'half open (probing)',
  open: 'open (skipped)',
};

/** Platform: the configured models and each deployment's circuit, load and latency. */
export function DeploymentsPage() {
  const deployments = useResource<List<Deployment>>('/admin/v1/deployments');
  const modelList = useResource<List<Model>>('/v1/models');
  return (
    <Page title="Models and deployments">
      <ListSection
        title="Deployments"
        resource={deployments}
        what="deployments"
        caption="Deployments"
        rowKey={(d) => `${d.model}/${d.deployment}`}
        empty="No deployments are configured."
        columns={[
          { header: 'Model', cell: (d) => d.model },
          { header: 'Deployment', cell: (d) => d.deployment },
          { header: 'Provider', cell: (d) => d.provider },
          { header: 'Region', cell: (d) => d.region ?? '–' },
          {
            header: 'Circuit',
            cell: (d) => (
              <span className={`badge circuit-${d.circuit_state}`}>{CIRCUIT[d.circuit_state]}</span>
            ),
          },
          { header: 'In flight', numeric: true, cell: (d) => number(d.in_flight) },
          {
            header: 'Latency p50',
            numeric: true,
            cell: (d) => (d.latency_ms_p50 === null ? '–' : `${Math.round(d.latency_ms_p50)} ms`),
          },
          { header: 'Weight', numeric: true, cell: (d) => number(d.weight) },
          { header: 'Priority', numeric: true, cell: (d) => number(d.priority) },
        ]}
      />
      <ListSection
        title="Models"
        resource={modelList}
        what="models"
        caption="Models"
        rowKey={(m) => m.id}
        empty="No models are configured."
        columns={[
          { header: 'Model', cell: (m) => m.id },
          { header: 'Owned by', cell: (m) => m.owned_by ?? '–' },
        ]}
      />
    </Page>
  );
}
