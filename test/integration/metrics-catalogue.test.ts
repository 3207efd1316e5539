import { type ChildProcess, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import {
  startGateway,
  type TestGateway,
  upstreamConfig,
  useUpstreamGateway,
  writeConfigFile,
} from '../helpers/gateway.js';
import { startRole } from '../helpers/gateway-process.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { section, tableRows } from '../helpers/markdown.js';
import { servicesOn, TEST_MASTER_KEY, type TestServices } from '../helpers/tenant-services.js';

const { upstream, gateway } = useUpstreamGateway();

const PROMTOOL = '/usr/bin/promtool';

/** The metric families a scrape declares (its `# TYPE` lines). */
const familiesOf = (text: string) =>
  new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1] as string));

/** The metric names of docs/metrics.md's table. */
function documented(): Set<string> {
  const page = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  return new Set(
    tableRows(section(page, 'Every metric'))
      .map((row) => (row[0] ?? '').replaceAll('`', ''))
      .filter((name) => name.startsWith('llm_backend_')),
  );
}

async function scrape(target: TestGateway): Promise<string> {
  const response = await fetch(`${target.url}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

/** Traffic of each kind the inference metrics tell apart: a success, a stream, an error. */
async function someTraffic(): Promise<void> {
  upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));
  await gateway.client.chat.completions.create({
    model: 'gpt-test',
    messages: [{ role: 'user', content: 'Hi' }],
  });
  const stream = await gateway.client.chat.completions.create({
    model: 'org/model-with-slash',
    messages: [{ role: 'user', content: 'Hi' }],
    stream: true,
  });
  for await (const _chunk of stream);
  await gateway.client.responses.create({ model: 'gpt-test', input: 'Hi' });
  const missing = await gateway.fetch('/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'Hi' }] }),
  });
  expect(missing.status).toBe(404);
  // Every upstream attempt fails: the request keeps the configured model it asked for.
  upstream.always((_req, res) => json(res, 500, { error: { message: 'down' } }));
  const failed = await gateway.fetch('/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }] }),
  });
  expect(failed.status).toBeGreaterThanOrEqual(500);
}

describe('the metrics catalogue', () => {
  it('exposes exactly the llm_backend_* families docs/metrics.md lists, and nothing unprefixed', async () => {
    await someTraffic();
    const text = await scrape(gateway);
    const exposed = familiesOf(text);
    expect([...exposed].filter((name) => !name.startsWith('llm_backend_'))).toEqual([]);
    expect([...exposed].sort()).toEqual([...documented()].sort());
  });

  it('counts inference by tenant, model and outcome, its tokens, errors and streams', async () => {
    await someTraffic();
    const text = await scrape(gateway);
    expect(text).toMatch(
      /^llm_backend_inference_requests_total\{route="\/v1\/chat\/completions",model="gpt-test",provider="upstream",deployment="upstream",tenant="test",outcome="ok"\} [1-9]/m,
    );
    expect(text).toMatch(
      /^llm_backend_inference_requests_total\{route="\/v1\/responses",model="gpt-test",provider="upstream",deployment="upstream",tenant="test",outcome="ok"\} [1-9]/m,
    );
    expect(text).toMatch(
      /^llm_backend_inference_errors_total\{route="\/v1\/chat\/completions",model="none",provider="none",code="model_not_found"\} [1-9]/m,
    );
    expect(text).toMatch(
      /^llm_backend_inference_errors_total\{route="\/v1\/chat\/completions",model="gpt-test",provider="none",code="upstream_[a-z_]+"\} [1-9]/m,
    );
    expect(text).toMatch(
      /^llm_backend_tokens_total\{tenant="test",model="gpt-test",provider="upstream",kind="output",estimated="false"\} [1-9]/m,
    );
    expect(text).toMatch(
      /^llm_backend_time_to_first_token_seconds_count\{route="\/v1\/chat\/completions",model="org\/model-with-slash",provider="mock",deployment="mock"\} [1-9]/m,
    );
    expect(text).toMatch(/^llm_backend_active_api_keys\{tenant="test",window="5m"\} 1$/m);
    expect(text).toMatch(/^llm_backend_up\{instance_role="serve"\} 1$/m);
    expect(text).toMatch(/^llm_backend_pg_pool_connections\{pool="control",state="total"\} \d+/m);
    expect(text).toMatch(/^llm_backend_pg_query_duration_seconds_count\{pool="control"\} [1-9]/m);
    expect(text).toMatch(/^llm_backend_open_connections [1-9]/m);
  });

  it.skipIf(!existsSync(PROMTOOL))('passes promtool check metrics without a problem', async () => {
    await someTraffic();
    const text = await scrape(gateway);
    const checked = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${checked.stdout}${checked.stderr}`).toBe('');
    expect(checked.status).toBe(0);
  });
});

describe('METRICS_TENANT_LABELS', () => {
  const capped = new FakeUpstream();
  let target: TestGateway;

  beforeAll(async () => {
    await capped.start();
    capped.always((_req, res) => json(res, 200, chatCompletion('ok')));
    target = await startGateway(upstreamConfig(capped.url), { METRICS_TENANT_LABELS: '1' });
  });
  afterAll(async () => {
    await target.close();
    await capped.stop();
  });

  it('gives the first tenants seen a label of their own and counts the rest as other', async () => {
    const clientOf = async (slug: string) => {
      await target.services.tenants.create({ slug, name: slug });
      const { secret } = await target.services.keys.create(slug, { name: 'k', role: 'owner' });
      return new OpenAI({ apiKey: secret, baseURL: `${target.url}/v1`, maxRetries: 0 });
    };
    const first = await clientOf('cap-first');
    const second = await clientOf('cap-second');
    const ask = (client: OpenAI) =>
      client.chat.completions.create({
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'Hi' }],
      });
    await ask(first);
    await ask(second);
    await ask(first);
    const text = await scrape(target);
    const tokens = (tenant: string) =>
      new RegExp(
        `^llm_backend_tokens_total\\{tenant="${tenant}",model="gpt-test",provider="upstream",kind="input",estimated="false"\\} (\\d+)$`,
        'm',
      ).exec(text)?.[1];
    expect(tokens('cap-first')).toBe('18');
    expect(tokens('other')).toBe('9');
    expect(text).not.toContain('cap-second');
  });
});

describe("the worker's operations port", () => {
  const children = new Set<ChildProcess>();
  const stream = `llmb:test:metrics:${randomBytes(4).toString('hex')}`;
  let services: TestServices;
  let url: string;

  beforeAll(async () => {
    services = await servicesOn('postgres');
    const worker = await startRole(
      'worker',
      {
        DATABASE_URL: services.backend.url ?? '',
        REDIS_URL: TEST_REDIS_URL,
        USAGE_STREAM: stream,
        MASTER_KEY: TEST_MASTER_KEY,
        CONFIG_FILE: writeConfigFile(upstreamConfig('http://127.0.0.1:9/v1')),
        TEST_UPSTREAM_KEY: 'unused',
        HOST: '127.0.0.1',
        OPS_PORT: '0',
        WEBHOOK_WORKERS: '0',
      },
      children,
    );
    const port = /"port":(\d+),"msg":"operations endpoints listening"/.exec(worker.output())?.[1];
    url = `http://127.0.0.1:${port}`;
  }, 60_000);
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await services?.close();
    const redis = new Redis(TEST_REDIS_URL);
    await redis.del(stream, `{${stream}}:dead`);
    redis.disconnect();
  }, 60_000);

  it('serves the same families as the gateway, with llm_backend_up for the worker', async () => {
    const response = await fetch(`${url}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect([...familiesOf(text)].sort()).toEqual([...documented()].sort());
    expect(text).toMatch(/^llm_backend_up\{instance_role="worker"\} 1$/m);
    expect(text).toMatch(/^llm_backend_usage_queue_backlog 0$/m);
    expect(text).toMatch(
      /^llm_backend_redis_command_duration_seconds_count\{connection="command"\} [1-9]/m,
    );
    // Counters the alert rules read with increase() are there before their first rise.
    for (const connection of ['command', 'blocking'])
      expect(text).toMatch(
        new RegExp(`^llm_backend_redis_errors_total\\{connection="${connection}"\\} \\d+$`, 'm'),
      );
    for (const stream of ['usage', 'events', 'logs', 'batches'])
      expect(text).toMatch(
        new RegExp(`^llm_backend_redis_unreplicated_writes_total\\{stream="${stream}"\\} 0$`, 'm'),
      );
  });

  it('answers anything else with an OpenAI-style 404, and stays up', async () => {
    const response = await fetch(`${url}/v1/models`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('not_found');
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
  });
});
