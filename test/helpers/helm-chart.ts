import { join } from 'node:path';
import { REPO_ROOT } from './compose-file.js';
import { type RenderedManifest, renderChart } from './helm-template.js';

export const CHART_DIR = join(REPO_ROOT, 'deploy/helm/llm-backend');

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}

interface Probe {
  httpGet?: { path: string; port: string | number };
}

interface Container {
  name: string;
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
}

/** The fields of a manifest's metadata the tests look at. */
export function manifestsOf(item: RenderedManifest): { name: string } {
  return { name: String((item.manifest.metadata as { name?: string } | undefined)?.name) };
}

/** The default release, as `helm template llmb deploy/helm/llm-backend` renders it. */
export function renderDefaultChart(): RenderedManifest[] {
  return renderChart(CHART_DIR, { name: 'llmb', namespace: 'default' });
}

export interface ApiProbes {
  liveness: string | undefined;
  readiness: string | undefined;
  startup: string | undefined;
  /** The container port the probes reach (a named port resolved). */
  port: number | undefined;
  /** The api container's plain values (secret references left out). */
  env: Record<string, string>;
}

/** The api Deployment's HTTP probes: which paths, on which port. */
export function chartProbes(manifests: RenderedManifest[]): ApiProbes {
  const deployment = manifests.find(
    (item) => item.manifest.kind === 'Deployment' && manifestsOf(item).name.endsWith('-api'),
  );
  const spec = deployment?.manifest.spec as
    | { template: { spec: { containers: Container[] } } }
    | undefined;
  const container = spec?.template.spec.containers.find((c) => c.name === 'api');
  const ports = new Set(
    [container?.livenessProbe, container?.readinessProbe, container?.startupProbe].map(
      (probe) => probe?.httpGet?.port,
    ),
  );
  const named = [...ports][0];
  const port =
    ports.size === 1
      ? typeof named === 'number'
        ? named
        : container?.ports?.find((p) => p.name === named)?.containerPort
      : undefined;
  const env: Record<string, string> = {};
  for (const variable of container?.env ?? [])
    if (variable.value !== undefined) env[variable.name] = variable.value;
  return {
    liveness: container?.livenessProbe?.httpGet?.path,
    readiness: container?.readinessProbe?.httpGet?.path,
    startup: container?.startupProbe?.httpGet?.path,
    port,
    env,
  };
}
