import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { generateApiKey } from '../../src/domain/key-format.js';
import { builtCli } from '../helpers/built-cli.js';
import {
  type ComposeService,
  exampleVariables,
  loadCompose,
  REPO_ROOT,
} from '../helpers/compose-file.js';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import { eventually, upstreamConfig } from '../helpers/gateway.js';
import { type ChildRole, startRole } from '../helpers/gateway-process.js';
import { chartProbes, renderDefaultChart } from '../helpers/helm-chart.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { freePort } from '../helpers/ports.js';
import { RoundRobinProxy } from '../helpers/round-robin-proxy.js';
import { servicesOn, TEST_MASTER_KEY, type TestServices } from '../helpers/tenant-services.js';
import { dropStream } from '../helpers/usage-queues.js';

/**
 * What `docker compose up` would run, run here without Docker: the api service's command
 * twice, the worker's, each with the environment the image and the compose file give it,
 * behind a round-robin proxy, with Prometheus (Debian's) on the compose scrape config.
 * Adapted only where a machine without containers must differ: host names become this
 * machine's PostgreSQL (a database of the test's own) and Redis (a usage stream of its own),
 * ports are free ones, mounted paths are temporary directories, and the proxy is a small
 * node one doing what deploy/compose/nginx.conf does (nginx from Debian would start a
 * system-wide daemon on port 80 as it is installed, which a shared machine must not get).
 */

const PROMETHEUS = '/usr/bin/prometheus';
const PROMETHEUS_CONFIG = join(REPO_ROOT, 'deploy/prometheus/prometheus.yml');
const scratch = mkdtempSync(join(tmpdir(), 'llm-backend-compose-'));
const configDir = join(scratch, 'config');
const dataDir = join(scratch, 'data');
const stream = `llmb:test:compose:${randomBytes(4).toString('hex')}`;

const variables = exampleVariables();
// The operator's .env: the test's master key (its services seal and hash with it), an admin
// key for the first start, and the provider key the config file names.
variables.set('MASTER_KEY', TEST_MASTER_KEY);
variables.set('BOOTSTRAP_ADMIN_KEY', generateApiKey());
variables.set('OPENAI_API_KEY', 'sk-compose-upstream');
const compose = loadCompose(variables);

/** The final stage's ENV: what every container of the image starts with. */
function imageEnv(): Record<string, string> {
  const dockerfile = DockerfileParser.parse(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
  const last = dockerfile.getFROMs().at(-1)?.getRange().start.line ?? 0;
  const env: Record<string, string> = {};
  for (const instruction of dockerfile.getENVs())
    if (instruction.getRange().start.line > last)
      for (const property of instruction.getProperties())
        env[property.getName()] = property.getValue() ?? '';
  return env;
}

/** Where a path inside the container is on this machine, from the service's mounts. */
function hostPaths(service: ComposeService): [string, string][] {
  return (service.volumes ?? []).map((volume) => {
    const [source = '', target = ''] = volume.split(':');
    if (source === './config') return [target, configDir];
    if (!source.startsWith('.')) return [target, dataDir];
    return [target, join(REPO_ROOT, source)];
  });
}

/** The environment the service's container gets, adapted to this machine (see above). */
function serviceEnv(name: string, databaseUrl: string): Record<string, string> {
  const service = compose.services[name] as ComposeService;
  const env: Record<string, string> = imageEnv();
  for (const [key, value] of Object.entries(service.environment ?? {}))
    env[key] = value === null ? '' : String(value);
  for (const [key, value] of Object.entries(env))
    for (const [inside, outside] of hostPaths(service))
      if (value.startsWith(`${inside}/`) || value === inside)
        env[key] = outside + value.slice(inside.length);
  // The compose services by their names; here this machine's, with databases of the test.
  expect(new URL(env.DATABASE_URL ?? '').hostname).toBe('postgres');
  expect(new URL(env.REDIS_URL ?? '').hostname).toBe('redis');
  env.DATABASE_URL = databaseUrl;
  env.REDIS_URL = TEST_REDIS_URL;
  env.USAGE_STREAM = stream;
  if (env.HOST === '0.0.0.0') env.HOST = '127.0.0.1';
  if (env.PORT !== undefined) env.PORT = '0';
  if (env.OPS_PORT !== undefined) env.OPS_PORT = '0';
  return env;
}

/** The container's command, checked to be `node dist/cli.js <role>` under tini. */
function role(name: string): 'serve' | 'worker' {
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  expect(dockerfile).toContain('ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/cli.js"]');
  const command = compose.services[name]?.command ?? [];
  expect(command).toHaveLength(1);
  expect(['serve', 'worker']).toContain(command[0]);
  return command[0] as 'serve' | 'worker';
}

function run(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: REPO_ROOT, env }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), output: stdout + stderr }),
    );
  });
}

describe('docker-compose.yml, run without Docker', () => {
  const upstream = new FakeUpstream();
  const children = new Set<ChildProcess>();
  let services: TestServices;
  let secret: string;
  let apis: (ChildRole & { url: string })[] = [];
  let worker: ChildRole & { url: string };
  let proxy: RoundRobinProxy;
  let prometheus: ChildProcess | null = null;

  beforeAll(async () => {
    await upstream.start();
    upstream.always((req, res) => {
      const body = req.body as { messages: { content: string }[] };
      json(res, 200, chatCompletion(`echo ${body.messages[0]?.content ?? ''}`));
    });
    services = await servicesOn('postgres');
    await services.tenants.create({ slug: 'compose', name: 'Compose' });
    secret = (await services.keys.create('compose', { name: 'compose', role: 'owner' })).secret;
    mkdirSync(configDir);
    mkdirSync(dataDir);
    // In place of ./config: a config whose provider is the fake upstream, with the key
    // variable the compose file passes on.
    writeFileSync(
      join(configDir, variables.get('LLM_BACKEND_CONFIG') ?? 'llm-backend.yaml'),
      stringify(upstreamConfig(upstream.url, { api_key_env: 'OPENAI_API_KEY' })),
    );
    const url = services.backend.url ?? '';
    apis = await Promise.all(
      [0, 1].map(() => startRole(role('api'), serviceEnv('api', url), children)),
    );
    worker = await startRole(role('worker'), serviceEnv('worker', url), children);
    proxy = new RoundRobinProxy(apis.map((api) => api.url));
    await proxy.start();
  }, 120_000);

  afterAll(async () => {
    prometheus?.kill('SIGKILL');
    for (const child of children) child.kill('SIGKILL');
    await proxy?.stop();
    await services?.close();
    await dropStream(stream);
    await upstream.stop();
    rmSync(scratch, { recursive: true, force: true });
  }, 60_000);

  it('serves chat completions through the proxy on both replicas; the worker writes the usage', async () => {
    const client = new OpenAI({ apiKey: secret, baseURL: `${proxy.url}/v1`, maxRetries: 0 });
    const ids = [0, 1, 2, 3].map((n) => `req-compose-${n}`);
    for (const id of ids) {
      const completion = await client.chat.completions.create(
        { model: 'gpt-test', messages: [{ role: 'user', content: id }] },
        { headers: { 'x-request-id': id } },
      );
      expect(completion.choices[0]?.message.content).toBe(`echo ${id}`);
    }
    // Round robin: each replica answered half.
    expect([...proxy.served.values()]).toEqual([2, 2]);
    expect(upstream.requests.map((r) => r.headers.authorization)).toContain(
      'Bearer sk-compose-upstream',
    );
    const tenant = await services.tenants.get('compose');
    const rows = await eventually(async () => {
      const found = await services.tenants
        .database(tenant)
        .selectFrom('usage_records')
        .select(['request_id', 'input_tokens', 'output_tokens'])
        .execute();
      expect(found.map((row) => row.request_id).sort()).toEqual(ids);
      return found;
    }, 30_000);
    for (const row of rows) expect(Number(row.output_tokens)).toBeGreaterThan(0);
    // The admin key from .env (BOOTSTRAP_ADMIN_KEY) was registered at the first start.
    const tenants = await fetch(`${proxy.url}/admin/v1/tenants`, {
      headers: { authorization: `Bearer ${variables.get('BOOTSTRAP_ADMIN_KEY')}` },
    });
    expect(tenants.status).toBe(200);
    expect(JSON.stringify(await tenants.json())).toContain('"compose"');
    // The replicas only publish (USAGE_WORKERS=0): the rows are the worker's.
    expect(worker.output()).toContain('usage workers started');
    for (const api of apis) expect(api.output()).not.toContain('usage workers started');
  }, 60_000);

  it('passes the health checks compose and the Helm chart run', async () => {
    const check = compose.services.api?.healthcheck?.test as string[];
    expect(check.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    const probes = chartProbes(renderDefaultChart());
    for (const api of apis) {
      const script = (check[3] ?? '').replaceAll('http://127.0.0.1:8000', api.url);
      expect(script).toContain(api.url);
      expect((await run(['-e', script], { PATH: process.env.PATH ?? '' })).code).toBe(0);
      for (const path of [probes.liveness, probes.readiness, probes.startup]) {
        const response = await fetch(`${api.url}${path}`);
        expect(response.status, `${path}`).toBe(200);
      }
    }
    // The worker's check is a CLI command of the same image, run as the image runs it.
    const workerCheck = compose.services.worker?.healthcheck?.test as string[];
    expect(workerCheck.slice(0, 3)).toEqual(['CMD', 'node', 'dist/cli.js']);
    const env = {
      PATH: process.env.PATH ?? '',
      ...serviceEnv('worker', services.backend.url ?? ''),
    };
    const result = await run([await builtCli(), ...workerCheck.slice(3)], env);
    expect(result.code, result.output).toBe(0);
    // And it fails when the worker could not work: Redis unreachable.
    const broken = await run([await builtCli(), ...workerCheck.slice(3)], {
      ...env,
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_TIMEOUT_MS: '200',
    });
    expect(broken.code).not.toBe(0);
  }, 60_000);

  it.skipIf(!existsSync(PROMETHEUS) || !existsSync(PROMETHEUS_CONFIG))(
    'Prometheus scrapes both replicas with the compose scrape config and loads the alert rules',
    async () => {
      const service = compose.services.prometheus as ComposeService;
      // Relative paths in prometheus.yml are relative to its own directory.
      const toHost = (path: string) => {
        if (!isAbsolute(path)) return join(dirname(PROMETHEUS_CONFIG), path);
        for (const [inside, outside] of hostPaths(service))
          if (path.startsWith(`${inside}/`) || path === inside)
            return outside + path.slice(inside.length);
        return path;
      };
      const config = parse(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as {
        rule_files?: string[];
        alerting?: unknown;
        scrape_configs?: Record<string, unknown>[];
      };
      // The api jobs reach the replicas as `api` (compose's DNS name); here at their ports.
      // Other jobs (Prometheus itself, Alertmanager...) have nothing to scrape here.
      const targets = apis.map((api) => new URL(api.url).host);
      const apiJobs = (config.scrape_configs ?? []).filter((job) =>
        /"api(:8000)?"/.test(JSON.stringify(job)),
      );
      expect(apiJobs.length).toBeGreaterThan(0);
      const adapted = {
        ...config,
        alerting: undefined,
        rule_files: (config.rule_files ?? []).map(toHost),
        scrape_configs: apiJobs.map((job) => {
          const kept = Object.fromEntries(
            Object.entries(job).filter(
              ([key]) => !key.endsWith('_sd_configs') && key !== 'static_configs',
            ),
          );
          return {
            ...kept,
            scrape_interval: '1s',
            scrape_timeout: '1s',
            static_configs: [{ targets }],
          };
        }),
      };
      const dir = join(scratch, 'prometheus');
      mkdirSync(dir);
      writeFileSync(join(dir, 'prometheus.yml'), stringify(adapted));
      const port = await freePort();
      prometheus = spawn(
        PROMETHEUS,
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--log.level=warn',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let log = '';
      prometheus.stderr?.on('data', (data: Buffer) => {
        log += data.toString();
      });
      const api = async (path: string) => {
        const response = await fetch(`http://127.0.0.1:${port}${path}`);
        expect(response.status, log).toBe(200);
        return ((await response.json()) as { data: unknown }).data;
      };
      const up = await eventually(async () => {
        const data = (await api('/api/v1/targets')) as {
          activeTargets: { health: string; scrapeUrl: string; lastError: string }[];
        };
        const healthy = data.activeTargets.filter((target) => target.health === 'up');
        expect(healthy.length, JSON.stringify(data.activeTargets)).toBe(data.activeTargets.length);
        expect(new Set(healthy.map((target) => new URL(target.scrapeUrl).host))).toEqual(
          new Set(targets),
        );
        return healthy;
      }, 30_000);
      expect(up.every((target) => new URL(target.scrapeUrl).pathname === '/metrics')).toBe(true);
      // What the gateway exports arrived from both replicas.
      const series = await eventually(async () => {
        const data = (await api(
          `/api/v1/query?query=${encodeURIComponent('count by (instance) ({__name__=~".*http_requests_total"})')}`,
        )) as { result: { metric: { instance: string } }[] };
        expect(new Set(data.result.map((row) => row.metric.instance))).toEqual(new Set(targets));
        return data.result;
      }, 30_000);
      expect(series).toHaveLength(2);
      if ((config.rule_files ?? []).length > 0) {
        const rules = (await api('/api/v1/rules')) as { groups: { rules: unknown[] }[] };
        expect(rules.groups.length, log).toBeGreaterThan(0);
        expect(rules.groups.flatMap((group) => group.rules).length).toBeGreaterThan(0);
      }
      prometheus.kill('SIGTERM');
      await once(prometheus, 'exit');
      prometheus = null;
    },
    90_000,
  );

  it('stops every process on SIGTERM with status 0 (what docker stop sends through tini)', async () => {
    for (const child of [...apis, worker].map((process) => process.child)) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    }
  }, 60_000);
});
