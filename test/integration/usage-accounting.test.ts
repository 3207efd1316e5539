import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningWorkers, startUsageWorkers } from '../../src/services/usage/usage-workers.js';
import { builtCli, useBuiltCli } from '../helpers/built-cli.js';
import { chatCompletion, FakeUpstream, json, sse, textChunks } from '../helpers/fake-upstream.js';
import {
  eventually,
  startGateway,
  type TestGateway,
  upstreamConfig,
  writeConfigFile,
} from '../helpers/gateway.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { TEST_DATABASE_URL } from '../helpers/services.js';
import { CuttableProxy } from '../helpers/tcp-proxy.js';
import { openQueue, QUEUE_KINDS } from '../helpers/usage-queues.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const quiet = { warn: () => {}, error: () => {} };

/** What the clients were told they used: the truth the usage rows must match. */
interface Received {
  requestId: string;
  prompt: number;
  completion: number;
}

/** Answers each chat request as it asks: streamed or not, with usage either way. */
function answerEverything(upstream: FakeUpstream) {
  upstream.always(async (req, res) => {
    const body = req.body as { stream?: boolean; messages: { content: string }[] };
    const words = (body.messages[0]?.content ?? 'x').split(' ');
    if (body.stream) return sse(res, textChunks(words, { usage: true }));
    json(res, 200, chatCompletion(words.join(' ')));
  });
}

async function call(client: OpenAI, index: number, streamed: boolean): Promise<Received> {
  const requestId = `req-acct-${index}-${streamed ? 's' : 'n'}`;
  const content = Array.from({ length: 1 + (index % 5) }, (_, i) => `w${i}`).join(' ');
  const options = { headers: { 'x-request-id': requestId } };
  if (!streamed) {
    const completion = await client.chat.completions.create(
      { model: 'gpt-test', messages: [{ role: 'user', content }] },
      options,
    );
    const usage = completion.usage as OpenAI.CompletionUsage;
    return { requestId, prompt: usage.prompt_tokens, completion: usage.completion_tokens };
  }
  const stream = await client.chat.completions.create(
    {
      model: 'gpt-test',
      messages: [{ role: 'user', content }],
      stream: true,
      stream_options: { include_usage: true },
    },
    options,
  );
  let usage: OpenAI.CompletionUsage | null | undefined = null;
  for await (const chunk of stream) usage = chunk.usage ?? usage;
  if (!usage) throw new Error('no usage in the stream');
  return { requestId, prompt: usage.prompt_tokens, completion: usage.completion_tokens };
}

async function usageRows(gateway: TestGateway, tenant: string) {
  return gateway.services.tenants
    .database(await gateway.services.tenants.get(tenant))
    .selectFrom('usage_records')
    .selectAll()
    .execute();
}

function expectExactly(rows: Awaited<ReturnType<typeof usageRows>>, received: Received[]) {
  expect(rows).toHaveLength(received.length);
  expect(rows.map((row) => row.request_id).sort()).toEqual(received.map((r) => r.requestId).sort());
  const sum = (values: (number | string)[]) => values.reduce<number>((a, b) => a + Number(b), 0);
  expect(sum(rows.map((row) => row.input_tokens))).toBe(sum(received.map((r) => r.prompt)));
  expect(sum(rows.map((row) => row.output_tokens))).toBe(sum(received.map((r) => r.completion)));
}

describe.each(QUEUE_KINDS)('usage accounting through the gateway on the %s queue', (kind) => {
  const upstream = new FakeUpstream();
  let gateway: TestGateway;
  let workers: RunningWorkers;

  beforeAll(async () => {
    await upstream.start();
    answerEverything(upstream);
    const queue = openQueue(kind);
    gateway = await startGateway(
      upstreamConfig(upstream.url),
      {},
      { services: { usageQueue: queue } },
    );
    workers = startUsageWorkers({
      queue,
      records: gateway.services.usageRecords,
      count: 2,
      log: quiet,
    });
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await workers?.stop();
    await upstream.stop();
  }, 60_000);

  it('records one row per request, streamed or not, with what the client was told', async () => {
    const received: Received[] = [];
    for (let i = 0; i < 6; i++) received.push(await call(gateway.client, i, i % 2 === 0));
    const rows = await eventually(async () => {
      const rows = await usageRows(gateway, 'test');
      expect(rows.length).toBeGreaterThanOrEqual(received.length);
      return rows;
    }, 10_000);
    expectExactly(rows, received);
    const streamed = rows.filter((row) => row.streamed);
    expect(streamed).toHaveLength(3);
    const [row] = rows;
    expect(row).toMatchObject({
      model: 'gpt-test',
      provider: 'upstream',
      status: 200,
      client_disconnected: false,
    });
    expect(row?.id).toMatch(/^evt_/);
    expect(row?.key_id).toMatch(/^key_/);
  });

  it('gives two requests sharing a client-chosen request id two rows', async () => {
    const before = (await usageRows(gateway, 'test')).length;
    const reused = { headers: { 'x-request-id': 'req-chosen-by-client' } };
    for (let i = 0; i < 2; i++)
      await gateway.client.chat.completions.create(
        { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] },
        reused,
      );
    await eventually(async () => {
      const rows = await usageRows(gateway, 'test');
      expect(rows.filter((row) => row.request_id === 'req-chosen-by-client')).toHaveLength(2);
      expect(rows).toHaveLength(before + 2);
    }, 10_000);
  });

  it('accounts a stream the client abandoned with what was delivered', async () => {
    upstream.next((_req, res) =>
      sse(res, textChunks(['a', 'b', 'c', 'd', 'e', 'f'], { usage: true }), { gapMs: 100 }),
    );
    const stream = await gateway.client.chat.completions.create(
      { model: 'gpt-test', messages: [{ role: 'user', content: 'long' }], stream: true },
      { headers: { 'x-request-id': 'req-abandoned' } },
    );
    let seen = 0;
    // Leaving the loop early aborts the request: the client goes away mid-stream.
    for await (const _chunk of stream) if (++seen === 3) break;
    expect(seen).toBe(3);
    const row = await eventually(async () => {
      const found = (await usageRows(gateway, 'test')).find(
        (r) => r.request_id === 'req-abandoned',
      );
      if (!found) throw new Error('not yet');
      return found;
    }, 10_000);
    expect(row.client_disconnected).toBe(true);
    expect(row.streamed).toBe(true);
    // Estimated from what went out: some of the stream, not all of it.
    expect(Number(row.output_tokens)).toBeGreaterThan(0);
    expect(Number(row.output_tokens)).toBeLessThan(6);
  });
});

describe('usage accounting survives a killed worker and a database restart', () => {
  // Its workers are processes of the built CLI.
  useBuiltCli();
  const upstream = new FakeUpstream();
  const target = new URL(TEST_DATABASE_URL);
  const proxy = new CuttableProxy(target.hostname, Number(target.port || 5432));
  const queue = openQueue('redis', { claimIdleMs: 500 });
  const children = new Set<ChildProcess>();
  let gateway: TestGateway;
  let farClient: OpenAI;
  let workerEnv: Record<string, string>;

  beforeAll(async () => {
    await upstream.start();
    answerEverything(upstream);
    await proxy.start();
    const farUrl = new URL(TEST_DATABASE_URL);
    farUrl.port = String(proxy.address.port);
    const config = {
      ...upstreamConfig(upstream.url),
      database_servers: { far: { url_env: 'FAR_DATABASE_URL' } },
    };
    gateway = await startGateway(
      config,
      { DATABASE_URL: TEST_DATABASE_URL, FAR_DATABASE_URL: farUrl.toString() },
      { services: { usageQueue: queue } },
    );
    await gateway.services.tenants.create({ slug: 'far', name: 'Far', server: 'far' });
    const { secret } = await gateway.services.keys.create('far', { name: 'far', role: 'owner' });
    farClient = gateway.client.withOptions({ apiKey: secret });
    const backend = (gateway.services as unknown as { backend: { url: string } }).backend;
    workerEnv = {
      DATABASE_URL: backend.url,
      REDIS_URL: TEST_REDIS_URL,
      USAGE_STREAM: queue.stream,
      USAGE_CLAIM_IDLE_MS: '500',
      MASTER_KEY: 'usage-test-master-key-0123456789abcdef',
      CONFIG_FILE: writeConfigFile(config),
      FAR_DATABASE_URL: farUrl.toString(),
      TEST_UPSTREAM_KEY: 'unused',
      // The worker says it is reading at info level.
      LOG_LEVEL: 'info',
    };
  }, 60_000);
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await gateway?.close();
    await queue.close();
    await proxy.stop();
    await upstream.stop();
  }, 60_000);

  /** `llm-backend worker` as its own process, once it reads. */
  async function startWorker(): Promise<ChildProcess> {
    const child = spawn(process.execPath, [await builtCli(), 'worker'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', ...workerEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (data: Buffer) => {
        output += data.toString();
        if (output.includes('usage workers started')) resolve();
      });
      child.stderr?.on('data', (data: Buffer) => {
        output += data.toString();
      });
      child.once('exit', (code) => reject(new Error(`worker exited (${code}): ${output}`)));
    });
    return child;
  }

  it('ends with exactly one row per request, token sums equal to what clients received', async () => {
    let worker = await startWorker();
    const received: Received[] = [];
    const N = 48;
    for (let batch = 0; batch < N / 4; batch++) {
      const calls = [0, 1, 2, 3].map((j) => call(farClient, batch * 4 + j, j % 2 === 0));
      received.push(...(await Promise.all(calls)));
      if (batch === 3) {
        // Killed without warning: whatever it held unacknowledged is claimed by the next.
        worker.kill('SIGKILL');
        await once(worker, 'exit');
        worker = await startWorker();
      }
      if (batch === 5) await proxy.cut();
      if (batch === 8) await proxy.restore();
    }
    const rows = await eventually(async () => {
      const rows = await usageRows(gateway, 'far');
      expect(rows.length).toBeGreaterThanOrEqual(N);
      expect(await queue.backlog()).toBe(0);
      return rows;
    }, 30_000);
    expectExactly(rows, received);
    expect(await queue.deadLetters(10)).toEqual([]);
    worker.kill('SIGTERM');
    const [code] = await once(worker, 'exit');
    expect(code).toBe(0);
  }, 120_000);
});
