import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PodMonitor,
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { acceptedEnvNames, REPO_ROOT } from '../helpers/compose-file.js';
import { chartProbes, type EnvVar, manifestsOf } from '../helpers/helm-chart.js';
import { type RenderedManifest, renderChart } from '../helpers/helm-template.js';

const CHART = join(REPO_ROOT, 'deploy/helm/llm-backend');
const RULES = join(CHART, 'files/llm-backend.rules.yml');
const scratch = mkdtempSync(join(tmpdir(), 'llm-backend-helm-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Each kind the chart makes, with the schema-checked model that validates it. */
const MODELS: Record<string, (manifest: object) => { validate(): void }> = {
  'v1/ConfigMap': (m) => new ConfigMap(m as ConstructorParameters<typeof ConfigMap>[0]),
  'v1/Service': (m) => new Service(m as ConstructorParameters<typeof Service>[0]),
  'apps/v1/Deployment': (m) => new Deployment(m as ConstructorParameters<typeof Deployment>[0]),
  'batch/v1/Job': (m) => new Job(m as ConstructorParameters<typeof Job>[0]),
  'networking.k8s.io/v1/Ingress': (m) => new Ingress(m as ConstructorParameters<typeof Ingress>[0]),
  'autoscaling/v2/HorizontalPodAutoscaler': (m) =>
    new HorizontalPodAutoscaler(m as ConstructorParameters<typeof HorizontalPodAutoscaler>[0]),
  'policy/v1/PodDisruptionBudget': (m) =>
    new PodDisruptionBudget(m as ConstructorParameters<typeof PodDisruptionBudget>[0]),
  'monitoring.coreos.com/v1/ServiceMonitor': (m) =>
    new ServiceMonitor(m as ConstructorParameters<typeof ServiceMonitor>[0]),
  'monitoring.coreos.com/v1/PodMonitor': (m) =>
    new PodMonitor(m as ConstructorParameters<typeof PodMonitor>[0]),
  'monitoring.coreos.com/v1/PrometheusRule': (m) =>
    new PrometheusRule(m as ConstructorParameters<typeof PrometheusRule>[0]),
};

const kindOf = ({ manifest }: RenderedManifest) => `${manifest.apiVersion}/${manifest.kind}`;

/** The value sets rendered: the defaults, and every optional part switched the other way. */
const VARIANTS: Record<string, Record<string, unknown>> = {
  defaults: {},
  everything: {
    ingress: { enabled: true, tlsSecret: 'llm-tls' },
    api: { autoscaling: { enabled: false } },
    extraEnv: [
      { name: 'OPENAI_API_KEY', valueFrom: { secretKeyRef: { name: 'providers', key: 'openai' } } },
    ],
  },
  minimal: {
    serviceMonitor: { enabled: false },
    prometheusRule: { enabled: false },
    migration: { enabled: false },
    api: { autoscaling: { inFlightMetric: { name: '' } } },
  },
};
const rendered = Object.fromEntries(
  Object.entries(VARIANTS).map(([name, values]) => [
    name,
    renderChart(CHART, { name: 'llmb', namespace: 'ai', values }),
  ]),
);

function only(manifests: RenderedManifest[], kind: string, name?: string): Record<string, unknown> {
  const found = manifests.filter(
    (m) => kindOf(m) === kind && (name === undefined || manifestsOf(m).name === name),
  );
  expect(
    found.map((m) => m.template),
    `${kind} ${name ?? ''}`,
  ).toHaveLength(1);
  return (found[0] as RenderedManifest).manifest;
}

describe('the Helm chart', () => {
  it('renders only manifests that validate against the Kubernetes schemas', () => {
    for (const [variant, manifests] of Object.entries(rendered)) {
      for (const item of manifests) {
        const model = MODELS[kindOf(item)];
        expect(model, `${variant}: ${item.template} makes ${kindOf(item)}`).toBeDefined();
        // The rule file comes from the monitoring configuration; checked on its own below.
        if (item.manifest.kind === 'PrometheusRule') continue;
        expect(
          () => model?.(item.manifest).validate(),
          `${variant}: ${item.template}`,
        ).not.toThrow();
      }
    }
    const templates = new Set(Object.values(rendered).flatMap((m) => m.map((i) => i.template)));
    expect([...templates].sort()).toEqual([
      'templates/configmap.yaml',
      'templates/deployment-api.yaml',
      'templates/deployment-worker.yaml',
      'templates/hpa.yaml',
      'templates/ingress.yaml',
      'templates/migration-job.yaml',
      'templates/pdb.yaml',
      'templates/podmonitor.yaml',
      'templates/prometheusrule.yaml',
      'templates/service.yaml',
      'templates/servicemonitor.yaml',
    ]);
  });

  it('the validation refuses a broken manifest', () => {
    const deployment = structuredClone(
      only(rendered.defaults ?? [], 'apps/v1/Deployment', 'llmb-api'),
    );
    const spec = (deployment.spec as { template: { spec: { containers: { ports: object[] }[] } } })
      .template.spec;
    (spec.containers[0] as { ports: object[] }).ports = [{ containerPort: '8000' }];
    expect(() => new Deployment(deployment as never).validate()).toThrow(/containerPort/);
  });

  it('probes the api on the health endpoints, on the port it listens on', () => {
    const probes = chartProbes(rendered.defaults ?? []);
    expect(probes.liveness).toBe('/health/live');
    expect(probes.startup).toBe('/health/live');
    expect(probes.readiness).toBe('/health/ready');
    expect(probes.port).toBe(8000);
    expect(probes.env.PORT).toBe(String(probes.port));
  });

  it('rolls the pods when the config file changes', () => {
    const checksums = (configFile: string) =>
      renderChart(CHART, { name: 'llmb', namespace: 'ai', values: { configFile } })
        .filter((item) => item.manifest.kind === 'Deployment')
        .map(
          (item) =>
            (
              item.manifest.spec as {
                template: { metadata: { annotations: Record<string, string> } };
              }
            ).template.metadata.annotations['checksum/config'],
        );
    const before = checksums('models: []\n');
    expect(before).toHaveLength(2);
    expect(new Set(before).size).toBe(1);
    expect(checksums('models: [] # changed\n')[0]).not.toBe(before[0]);
  });

  it('runs migrations in a pre-upgrade hook Job', () => {
    const job = only(rendered.defaults ?? [], 'batch/v1/Job') as {
      metadata: { annotations: Record<string, string> };
      spec: { template: { spec: { restartPolicy: string; containers: { args: string[] }[] } } };
    };
    expect(job.metadata.annotations['helm.sh/hook']?.split(',')).toContain('pre-upgrade');
    expect(job.metadata.annotations['helm.sh/hook-delete-policy']).toContain(
      'before-hook-creation',
    );
    expect(job.spec.template.spec.containers[0]?.args).toEqual(['migrate']);
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
    expect(rendered.minimal?.some((m) => m.manifest.kind === 'Job')).toBe(false);
  });

  it('scales on CPU and requests in flight, and keeps one api pod through disruptions', () => {
    const hpa = only(rendered.defaults ?? [], 'autoscaling/v2/HorizontalPodAutoscaler') as {
      spec: { metrics: { type: string }[]; scaleTargetRef: { name: string } };
    };
    expect(hpa.spec.metrics.map((metric) => metric.type)).toEqual(['Resource', 'Pods']);
    expect(hpa.spec.scaleTargetRef.name).toBe('llmb-api');
    const api = only(rendered.defaults ?? [], 'apps/v1/Deployment', 'llmb-api') as {
      spec: { replicas?: number };
    };
    // The HPA owns the replica count; a fixed one would fight it on every upgrade.
    expect(api.spec.replicas).toBeUndefined();
    const fixed = only(rendered.everything ?? [], 'apps/v1/Deployment', 'llmb-api') as {
      spec: { replicas?: number };
    };
    expect(fixed.spec.replicas).toBe(2);
    const pdb = only(rendered.defaults ?? [], 'policy/v1/PodDisruptionBudget') as {
      spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } };
    };
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.selector.matchLabels['app.kubernetes.io/component']).toBe('api');
  });

  it('scrapes /metrics on the port the Service names', () => {
    const service = only(rendered.defaults ?? [], 'v1/Service') as {
      spec: { ports: { name: string }[] };
    };
    const monitor = only(rendered.defaults ?? [], 'monitoring.coreos.com/v1/ServiceMonitor') as {
      spec: { endpoints: { port: string; path: string }[] };
    };
    expect(monitor.spec.endpoints).toEqual([
      expect.objectContaining({ port: service.spec.ports[0]?.name, path: '/metrics' }),
    ]);
  });

  it("scrapes the workers' pods on the ops port the worker is given", () => {
    const worker = only(rendered.defaults ?? [], 'apps/v1/Deployment', 'llmb-worker') as {
      spec: {
        template: {
          spec: {
            containers: {
              env: EnvVar[];
              ports: { name: string; containerPort: number }[];
              livenessProbe: { httpGet: { path: string; port: string } };
            }[];
          };
        };
      };
    };
    const container = worker.spec.template.spec.containers[0];
    const monitor = only(rendered.defaults ?? [], 'monitoring.coreos.com/v1/PodMonitor') as {
      spec: {
        selector: { matchLabels: Record<string, string> };
        podMetricsEndpoints: { port: string; path: string }[];
      };
    };
    expect(monitor.spec.selector.matchLabels['app.kubernetes.io/component']).toBe('worker');
    const [endpoint] = monitor.spec.podMetricsEndpoints;
    expect(endpoint?.path).toBe('/metrics');
    const port = container?.ports.find((candidate) => candidate.name === endpoint?.port);
    expect(port?.containerPort).toBe(9464);
    expect(container?.env.find((variable) => variable.name === 'OPS_PORT')?.value).toBe(
      String(port?.containerPort),
    );
    expect(container?.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'metrics' });
    expect(rendered.minimal?.some((m) => m.manifest.kind === 'PodMonitor')).toBe(false);
  });

  it.skipIf(!existsSync(RULES))(
    'carries the alert rules Prometheus loads as its PrometheusRule',
    () => {
      const rule = only(rendered.defaults ?? [], 'monitoring.coreos.com/v1/PrometheusRule');
      expect(() => new PrometheusRule(rule as never).validate()).not.toThrow();
      const file = parse(
        readFileSync(join(REPO_ROOT, 'deploy/prometheus/rules/llm-backend.rules.yml'), 'utf8'),
      ) as {
        groups: unknown[];
      };
      expect((rule.spec as { groups: unknown[] }).groups).toEqual(file.groups);
    },
  );

  it('takes secrets by reference only, and sets only variables the gateway accepts', () => {
    for (const manifests of Object.values(rendered)) {
      const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as {
        configFile: string;
      };
      const configFile = join(scratch, 'llm-backend.yaml');
      writeFileSync(configFile, values.configFile);
      const accepted = acceptedEnvNames([
        configFile,
        join(REPO_ROOT, 'config/examples/openai.yaml'),
      ]);
      for (const item of manifests) {
        if (!['Deployment', 'Job'].includes(String(item.manifest.kind))) continue;
        const env = containerEnv(item);
        for (const variable of env) {
          expect(accepted, `${item.template}: ${variable.name}`).toContain(variable.name);
          if (/KEY|URL|SECRET|PASSWORD/.test(variable.name))
            expect(
              variable.valueFrom?.secretKeyRef,
              `${item.template}: ${variable.name}`,
            ).toBeDefined();
        }
      }
    }
  });

  it('gives each role an environment and a config file the gateway loads', () => {
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as {
      configFile: string;
    };
    const configDir = join(scratch, 'etc');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(join(configDir, 'llm-backend.yaml'), values.configFile);
    const secrets: Record<string, string> = {
      'master-key': 'chart-test-master-key-0123456789abcdef',
      'database-url': 'postgres://llm_backend@postgres:5432/llm_backend',
      'redis-url': 'redis://redis:6379/0',
    };
    for (const item of rendered.defaults ?? []) {
      if (!['Deployment', 'Job'].includes(String(item.manifest.kind))) continue;
      const env: Record<string, string> = {};
      for (const variable of containerEnv(item)) {
        const ref = variable.valueFrom?.secretKeyRef;
        const value = ref ? secrets[ref.key] : variable.value;
        if (value !== undefined) env[variable.name] = value;
        else expect(ref?.optional, `${item.template}: ${variable.name}`).toBe(true);
      }
      env.CONFIG_FILE = (env.CONFIG_FILE ?? '').replace('/etc/llm-backend', configDir);
      expect(() => loadConfig(env), item.template).not.toThrow();
    }
  });
});

function containerEnv(item: RenderedManifest): EnvVar[] {
  const spec = item.manifest.spec as { template: { spec: { containers: { env?: EnvVar[] }[] } } };
  return spec.template.spec.containers.flatMap((container) => container.env ?? []);
}

describe('the template renderer', () => {
  function renderOne(template: string, values: Record<string, unknown> = {}) {
    const dir = mkdtempSync(join(scratch, 'chart-'));
    mkdirSync(join(dir, 'templates'));
    writeFileSync(join(dir, 'Chart.yaml'), 'name: c\nversion: 1.0.0\nappVersion: "2"\n');
    writeFileSync(join(dir, 'values.yaml'), 'a: {b: x, list: [1, 2]}\nflag: false\n');
    writeFileSync(join(dir, 'templates', 't.yaml'), template);
    return renderChart(dir, { name: 'r', namespace: 'n', values }).map((m) => m.manifest);
  }

  it('renders values, defaults, quotes, conditions and indented YAML as Helm does', () => {
    expect(
      renderOne(
        'kind: {{ .Values.a.b | quote }}\nv: {{ .Values.none | default .Chart.AppVersion }}\n{{- if .Values.flag }}\nf: yes\n{{- else }}\nf: no\n{{- end }}\nl:\n  {{- toYaml .Values.a.list | nindent 2 }}\n',
      ),
    ).toEqual([{ kind: 'x', v: 2, f: 'no', l: [1, 2] }]);
  });

  it('hashes as Helm does', () => {
    // sha256 of "abc", the standard test vector.
    expect(renderOne('h: {{ "abc" | sha256sum }}\n')).toEqual([
      { h: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' },
    ]);
  });

  it('refuses a misspelt value and what it does not implement', () => {
    expect(() => renderOne('a: {{ .Values.a.c }}\n')).toThrow(/missing value/);
    expect(() => renderOne('{{ range .Values.a.list }}x{{ end }}\n')).toThrow(/not supported/);
    expect(() => renderOne('a: {{ lower .Values.a.b }}\n')).toThrow(/unknown function/);
  });
});
