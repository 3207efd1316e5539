import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.js';
import { builtCli, useBuiltCli } from '../helpers/built-cli.js';
import { dedupCount, heldJson, heldStream, readStream, sharedBody } from '../helpers/dedup.js';
import { openExchange } from '../helpers/dedup-exchanges.js';
import {
  chatCompletion,
  FakeUpstream,
  json,
  newGate,
  sse,
  textChunks,
} from '../helpers/fake-upstream.js';
import {
  eventually,
  startGateway,
  type TestGateway,
  upstreamConfig,
  writeConfigFile,
} from '../helpers/gateway.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { TEST_MASTER_KEY } from '../helpers/tenant-services.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Short, so a dead leader's followers take over soon; a setting, not a timing assertion. */
const LEASE_MS = 1000;
// A busy machine must not turn a slow claim into "Redis is away" here.
const ENV = { REDIS_TIMEOUT_MS: '30000', DEDUP_LEASE_MS: String(LEASE_MS) };

/**
 * Deduplication across instances that share Redis: two gateways in this process, and for the
 * crash case a third one as a process of its own, killed while it leads a stream.
 */
const upstream = new FakeUpstream();
let instances: [TestGateway, TestGateway];

beforeAll(async () => {
  await upstream.start();
  const config = upstreamConfig(upstream.url);
  const exchange = () => openExchange('redis', { leaseMs: LEASE_MS });
  const first = await startGateway(config, ENV, { services: { dedup: exchange() } });
  const second = await startGateway(config, ENV, {
    services: { dedup: exchange() },
    share: first,
  });
  instances = [first, second];
}, 60_000);

afterAll(async () => {
  for (const instance of instances ?? []) await instance.close();
  await upstream.stop();
});

async function followersOnAll(): Promise<number> {
  let total = 0;
  for (const instance of instances) total += await dedupCount(instance, 'followers');
  return total;
}

/** Resolves once `count` more requests follow another's call, over both instances. */
async function joined(before: number, count: number) {
  await eventually(async () => expect(await followersOnAll()).toBe(before + count), 30_000);
}

describe('50 identical concurrent requests over two instances', () => {
  it('make one upstream call and get 50 identical answers', async () => {
    upstream.reset();
    const gate = heldJson(upstream, 'fifty as one');
    const before = await followersOnAll();
    const calls = Array.from({ length: 50 }, (_, i) =>
      (instances[i % 2] as TestGateway).client.chat.completions.create(sharedBody('fifty json')),
    );
    await joined(before, 49);
    gate.open();
    const results = await Promise.all(calls);
    expect(upstream.requests).toHaveLength(1);
    for (const result of results) expect(result.choices[0]?.message.content).toBe('fifty as one');
  });

  it('make one upstream call and stream it to all 50', async () => {
    upstream.reset();
    const pieces = Array.from({ length: 20 }, (_, i) => `s${i} `);
    const gate = heldStream(upstream, pieces);
    const before = await followersOnAll();
    const calls = Array.from({ length: 50 }, (_, i) =>
      (instances[i % 2] as TestGateway).client.chat.completions.create({
        ...sharedBody('fifty stream'),
        stream: true,
      }),
    );
    await joined(before, 49);
    gate.open();
    const results = await Promise.all(calls.map(async (call) => readStream(await call)));
    expect(upstream.requests).toHaveLength(1);
    for (const result of results) {
      expect(result.text).toBe(pieces.join(''));
      expect(result.finish).toBe('stop');
    }
  });

  it("finish the call for a follower elsewhere when the leader's client leaves", async () => {
    upstream.reset();
    const gate = heldStream(upstream, ['still ', 'here']);
    const [first, second] = instances;
    const leaving = new AbortController();
    const leader = first.client.chat.completions.create(
      { ...sharedBody('leader leaves'), stream: true },
      { signal: leaving.signal },
    );
    await eventually(() => expect(upstream.requests).toHaveLength(1), 30_000);
    const before = await followersOnAll();
    const follower = second.client.chat.completions.create({
      ...sharedBody('leader leaves'),
      stream: true,
    });
    await joined(before, 1);
    leaving.abort();
    await expect(leader).rejects.toThrow();
    // The call is not cut: the follower on the other instance keeps it going.
    await eventually(() => expect(first.logs.some((l) => l.status === 499)).toBe(true));
    gate.open();
    expect((await readStream(await follower)).text).toBe('still here');
    expect(upstream.requests).toHaveLength(1);
    expect(upstream.requests[0]?.wasAborted()).toBe(false);
  });
});

describe('a leader that fails before answering', () => {
  it('leaves its followers elsewhere one retry, made once for all', async () => {
    upstream.reset();
    const gate = newGate();
    upstream.next(async (_req, res) => {
      await gate.opened;
      json(res, 500, { error: { message: 'boom', type: 'server_error' } });
    });
    upstream.always((_req, res) => json(res, 200, chatCompletion('after the failure')));
    const [first, second] = instances;
    const leader = first.client.chat.completions.create(sharedBody('leader fails elsewhere'));
    await eventually(() => expect(upstream.requests).toHaveLength(1), 30_000);
    const before = await followersOnAll();
    const takeovers = await dedupCount(second, 'takeovers');
    const followers = Array.from({ length: 4 }, () =>
      second.client.chat.completions.create(sharedBody('leader fails elsewhere')),
    );
    await joined(before, 4);
    gate.open();
    expect((await apiError(leader)).status).toBe(502);
    for (const result of await Promise.all(followers))
      expect(result.choices[0]?.message.content).toBe('after the failure');
    expect(upstream.requests).toHaveLength(2);
    expect(await dedupCount(second, 'takeovers')).toBe(takeovers + 1);
  });
});

describe('with Redis unreachable', () => {
  const down: TestGateway[] = [];
  beforeAll(async () => {
    const config = upstreamConfig(upstream.url);
    // Nothing listens on port 1: every exchange call fails.
    const exchange = () => openExchange('redis', { url: 'redis://127.0.0.1:1' });
    const first = await startGateway(config, {}, { services: { dedup: exchange() } });
    down.push(first);
    down.push(await startGateway(config, {}, { services: { dedup: exchange() }, share: first }));
  }, 60_000);
  afterAll(async () => {
    for (const gateway of down) await gateway.close();
  });

  it('answers every request, sharing calls only within each instance', async () => {
    upstream.reset();
    const gate = heldJson(upstream, 'no sharing');
    const calls = Array.from({ length: 4 }, (_, i) =>
      (down[i % 2] as TestGateway).client.chat.completions.create(sharedBody('redis down')),
    );
    // Each instance calls on its own, nobody waits for a leader elsewhere.
    await eventually(async () => {
      expect(upstream.requests).toHaveLength(2);
      for (const gateway of down) expect(await dedupCount(gateway, 'followers')).toBe(1);
    }, 30_000);
    gate.open();
    for (const result of await Promise.all(calls))
      expect(result.choices[0]?.message.content).toBe('no sharing');
    expect(upstream.requests).toHaveLength(2);
  });
});

/** `llm-backend serve` as a process of its own over the first instance's databases. */
async function startLeaderProcess(): Promise<{ child: ChildProcess; url: string }> {
  const backend = (instances[0].services as unknown as { backend: { url: string } }).backend;
  const child = spawn(process.execPath, [await builtCli(), 'serve'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: backend.url,
      REDIS_URL: TEST_REDIS_URL,
      USAGE_STREAM: `llmb:test:dedup-usage:${process.pid}`,
      USAGE_WORKERS: '0',
      MASTER_KEY: TEST_MASTER_KEY,
      CONFIG_FILE: writeConfigFile(upstreamConfig(upstream.url)),
      TEST_UPSTREAM_KEY: 'unused',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'llm-backend-dedup-')),
      PORT: '0',
      LOG_LEVEL: 'info',
      ...ENV,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (data: Buffer) => {
      output += data.toString();
      const listening = /listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (listening?.[1]) resolve(listening[1]);
    });
    child.stderr?.on('data', (data: Buffer) => {
      output += data.toString();
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}): ${output}`)));
  });
  return { child, url };
}

/** A raw SSE response read as it arrives: the text so far, and the whole body at the end. */
function readRaw(response: Response) {
  const state = { text: '', raw: '', done: (async () => {})() };
  state.done = (async () => {
    const decoder = new TextDecoder();
    for await (const bytes of response.body as AsyncIterable<Uint8Array>) {
      state.raw += decoder.decode(bytes, { stream: true });
      state.text = contentOf(state.raw);
    }
  })();
  return state;
}

function contentOf(raw: string): string {
  let text = '';
  for (const frame of raw.split('\n\n')) {
    const data = frame.startsWith('data: ') ? frame.slice(6) : '';
    if (data === '' || data === '[DONE]') continue;
    try {
      const chunk = JSON.parse(data) as { choices?: { delta?: { content?: string } }[] };
      for (const choice of chunk.choices ?? []) text += choice.delta?.content ?? '';
    } catch {
      // A frame still arriving.
    }
  }
  return text;
}

describe('the leader killed mid-stream', () => {
  // Its leader is a process of the built CLI.
  useBuiltCli();
  let leader: { child: ChildProcess; url: string } | null = null;
  afterAll(async () => {
    leader?.child.kill('SIGKILL');
    const redis = new Redis(TEST_REDIS_URL);
    await redis.del(`llmb:test:dedup-usage:${process.pid}`);
    redis.disconnect();
  });

  it('leaves its followers a complete answer from the one that takes over', async () => {
    leader = await startLeaderProcess();
    upstream.reset();
    const pieces = Array.from({ length: 12 }, (_, i) => `w${i} `);
    const events = textChunks(pieces, { usage: true });
    // The leader's call: the role and three words, then nothing until its process dies.
    upstream.next(async (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const event of events.slice(0, 4)) res.write(`data: ${JSON.stringify(event)}\n\n`);
      await req.aborted;
    });
    upstream.always((_req, res) => sse(res, events));
    const [follower] = instances;
    const post = (url: string) =>
      fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${follower.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...sharedBody('killed leader'), stream: true }),
      });
    const leaderResponse = await post(leader.url);
    void readRaw(leaderResponse).done.catch(() => {});
    const takeoversBefore = await dedupCount(follower, 'takeovers');
    const followers = await Promise.all([1, 2, 3].map(() => post(follower.url)));
    const reads = followers.map((response) => readRaw(response));
    // Every follower has part of the answer from the leader before it dies.
    await eventually(() => {
      for (const read of reads) expect(read.text).toBe('w0 w1 w2 ');
    }, 30_000);
    leader.child.kill('SIGKILL');
    await once(leader.child, 'exit');
    await Promise.all(reads.map((read) => read.done));
    for (const read of reads) {
      expect(read.text).toBe(pieces.join(''));
      expect(read.raw.endsWith('data: [DONE]\n\n')).toBe(true);
      expect(read.raw).not.toContain('"error"');
    }
    // The second call is the takeover's, made once for all three.
    expect(upstream.requests).toHaveLength(2);
    expect(await dedupCount(follower, 'takeovers')).toBe(takeoversBefore + 1);
  }, 120_000);
});
