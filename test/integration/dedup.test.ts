import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokensToReserve } from '../../src/services/limits/reservation.js';
import { type RunningWorkers, startUsageWorkers } from '../../src/services/usage/usage-workers.js';
import { apiError } from '../helpers/api-error.js';
import { dedupCount, heldJson, heldStream, readStream, sharedBody } from '../helpers/dedup.js';
import { openExchange } from '../helpers/dedup-exchanges.js';
import { chatCompletion, FakeUpstream, json, newGate } from '../helpers/fake-upstream.js';
import {
  completionLog,
  eventually,
  startGateway,
  type TestGateway,
  upstreamConfig,
} from '../helpers/gateway.js';
import { CLUSTER_STORE_KINDS } from '../helpers/limit-stores.js';
import { sharedCluster } from '../helpers/redis-cluster.js';
import { openQueue } from '../helpers/usage-queues.js';

/**
 * Deduplication in flight on one instance, with the in-process flights alone and with Redis
 * as the exchange: the same cases on both. The upstream holds its answer until every request
 * of the test has joined (the followers counter says so), so they are in flight together.
 */
// And on a real Redis Cluster, where followers are read slot by slot.
sharedCluster();

describe.each(CLUSTER_STORE_KINDS)('deduplication in flight (%s)', (kind) => {
  const upstream = new FakeUpstream();
  const queue = openQueue('memory');
  let gateway: TestGateway;
  let workers: RunningWorkers;

  beforeAll(async () => {
    await upstream.start();
    const config = upstreamConfig(upstream.url);
    // A dollar per token: a row's cost shows whether its request paid for a call.
    Object.assign(config.models[0] as object, { pricing: { input: 1e6, output: 1e6 } });
    gateway = await startGateway(
      config,
      // A busy machine must not turn a slow claim into "Redis is away" here.
      { REDIS_TIMEOUT_MS: '30000' },
      { services: { dedup: openExchange(kind), usageQueue: queue } },
    );
    workers = startUsageWorkers({
      queue,
      records: gateway.services.usageRecords,
      count: 1,
      log: { warn: () => {}, error: () => {} },
    });
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await workers?.stop();
    await upstream.stop();
  });

  /** The usage rows of these requests, once there is one for each. */
  async function usageRows(ids: string[]) {
    return eventually(async () => {
      const tenant = await gateway.services.tenants.get('test');
      const rows = await gateway.services.tenants
        .database(tenant)
        .selectFrom('usage_records')
        .selectAll()
        .where('request_id', 'in', ids)
        .execute();
      expect(rows).toHaveLength(ids.length);
      return rows;
    }, 20_000);
  }

  /** Resolves once `count` more requests joined another's flight than before. */
  async function joined(before: number, count: number) {
    await eventually(async () => {
      expect(await dedupCount(gateway, 'followers')).toBe(before + count);
    }, 30_000);
  }

  it('answers identical concurrent requests with one upstream call', async () => {
    upstream.reset();
    const gate = heldJson(upstream, 'one answer for all');
    const before = await dedupCount(gateway, 'followers');
    const ids = Array.from({ length: 10 }, (_, i) => `req-dedup-${kind}-json-${i}`);
    const calls = ids.map((id) =>
      gateway.client.chat.completions
        .create(sharedBody('json answer'), { headers: { 'x-request-id': id } })
        .withResponse(),
    );
    await joined(before, 9);
    gate.open();
    const results = await Promise.all(calls);
    expect(upstream.requests).toHaveLength(1);
    for (const { data } of results) {
      expect(data.choices[0]?.message.content).toBe('one answer for all');
      expect(data.usage?.total_tokens).toBe(13);
    }
    const cache = results.map(({ response }) => response.headers.get('x-llm-backend-cache'));
    expect(cache.filter((value) => value === 'dedup')).toHaveLength(9);
    // One request made the call; every other one names it as the call that answered it.
    const lines = await Promise.all(ids.map((id) => completionLog(gateway, id)));
    const leaders = lines.filter((line) => line.dedupOf === undefined);
    expect(leaders).toHaveLength(1);
    const followers = lines.filter((line) => line.dedupOf === leaders[0]?.requestId);
    expect(followers).toHaveLength(9);
    // One usage row each, with the tokens of the answer; only the leader's costs anything.
    const rows = await usageRows(ids);
    for (const row of rows)
      expect([Number(row.input_tokens), Number(row.output_tokens)]).toEqual([9, 4]);
    const paid = rows.filter((row) => Number(row.cost) > 0);
    expect(paid.map((row) => row.request_id)).toEqual([leaders[0]?.requestId]);
    // 7 uncached prompt tokens and 4 completion tokens; the 2 cached ones are priced at 0.
    expect(Number(paid[0]?.cost)).toBe(11);
    // The followers are accounted like cache hits: what the call would have cost, saved.
    for (const row of rows.filter((row) => row.request_id !== leaders[0]?.requestId)) {
      expect(row.cache_hit).toBe(true);
      expect(Number(row.saved_cost)).toBe(11);
    }
    expect(paid[0]).toMatchObject({ cache_hit: false });
  });

  it('leaves the followers out of token quotas counted from the usage records', async () => {
    upstream.reset();
    const gate = heldJson(upstream, 'a burst answer');
    // A key of its own: only this burst is in its usage records.
    const { key, secret } = await gateway.services.keys.create('test', {
      name: 'q',
      role: 'member',
    });
    const client = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const body = { ...sharedBody(`burst ${kind}`), max_tokens: 5 };
    const before = await dedupCount(gateway, 'followers');
    const ids = Array.from({ length: 5 }, (_, i) => `req-dedup-${kind}-quota-${i}`);
    const calls = ids.map((id) =>
      client.chat.completions.create(body, { headers: { 'x-request-id': id } }),
    );
    await joined(before, 4);
    gate.open();
    await Promise.all(calls);
    const rows = await usageRows(ids);
    expect(rows.filter((row) => row.cache_hit)).toHaveLength(4);
    // A quota set now is counted from the records: 13 tokens (the leader's), not 5 × 13.
    const reserved = await tokensToReserve('chat', body, 1024);
    const next = reserved.promptTokens + reserved.completionTokens;
    await gateway.services.quotas.set('test', {
      scope: 'key',
      subjectId: key.id,
      metric: 'tokens',
      period: 'day',
      amount: 13 + next + 5,
    });
    upstream.reset();
    upstream.always(async (_req, res) => json(res, 200, chatCompletion('after the burst')));
    const after = await client.chat.completions.create(body);
    expect(after.choices[0]?.message.content).toBe('after the burst');
  });

  it('streams one upstream answer to every identical concurrent stream', async () => {
    upstream.reset();
    const gate = heldStream(upstream, ['one ', 'streamed ', 'answer']);
    const before = await dedupCount(gateway, 'followers');
    // Half ask for the usage chunk: it is not part of the key, each gets what it asked for.
    const ids = Array.from({ length: 10 }, (_, i) => `req-dedup-${kind}-stream-${i}`);
    const calls = ids.map((id, i) =>
      gateway.client.chat.completions.create(
        {
          ...sharedBody('stream answer'),
          stream: true,
          ...(i % 2 === 0 && { stream_options: { include_usage: true } }),
        },
        { headers: { 'x-request-id': id } },
      ),
    );
    await joined(before, 9);
    gate.open();
    const results = await Promise.all(calls.map(async (call) => readStream(await call)));
    expect(upstream.requests).toHaveLength(1);
    for (const [i, result] of results.entries()) {
      expect(result.text).toBe('one streamed answer');
      expect(result.finish).toBe('stop');
      expect(result.usage).toBe(i % 2 === 0);
    }
    // One row each with the stream's usage; only the leader's costs anything.
    const rows = await usageRows(ids);
    for (const row of rows)
      expect([Number(row.input_tokens), Number(row.output_tokens)]).toEqual([7, 3]);
    expect(rows.filter((row) => Number(row.cost) > 0)).toHaveLength(1);
  });

  it('does not share requests whose answer may vary', async () => {
    upstream.reset();
    const gate = heldJson(upstream, 'varied');
    const bodies = [
      { model: 'gpt-test', messages: [{ role: 'user' as const, content: 'vary' }] },
      { ...sharedBody('vary'), temperature: 0.7 },
      { ...sharedBody('vary'), n: 2 },
    ];
    const calls = [...bodies, bodies[0], bodies[1]].map((body) =>
      gateway.client.chat.completions.create(body as (typeof bodies)[0]),
    );
    // Each one reaches the upstream on its own, all at once.
    await eventually(() => expect(upstream.requests).toHaveLength(5), 30_000);
    gate.open();
    for (const result of await Promise.all(calls))
      expect(result.choices[0]?.message.content).toBe('varied');
  });

  it('never shares an answer between two tenants, even for byte-identical requests', async () => {
    upstream.reset();
    const slug = `dedup-other-${kind}`;
    await gateway.services.tenants.create({ slug, name: 'Other' });
    const { secret } = await gateway.services.keys.create(slug, { name: 'o', role: 'owner' });
    const other = gateway.client.withOptions({ apiKey: secret });
    const gate = newGate();
    upstream.always(async (req, res) => {
      await gate.opened;
      json(res, 200, chatCompletion(`for ${req.headers.authorization === undefined ? '?' : 'x'}`));
    });
    const calls = [gateway.client, other].map((client) =>
      client.chat.completions.create(sharedBody('same bytes')).withResponse(),
    );
    await eventually(() => expect(upstream.requests).toHaveLength(2), 30_000);
    gate.open();
    for (const { response } of await Promise.all(calls))
      expect(response.headers.get('x-llm-backend-cache')).toBeNull();
  });

  it('keeps answering the others when a follower or the leader leaves', async () => {
    upstream.reset();
    const pieces = Array.from({ length: 8 }, (_, i) => `p${i} `);
    const gate = heldStream(upstream, pieces);
    const leaderAbort = new AbortController();
    const leaderId = `req-dedup-${kind}-leaving-leader`;
    const leader = gateway.client.chat.completions.create(
      { ...sharedBody('leaving'), stream: true },
      { signal: leaderAbort.signal, headers: { 'x-request-id': leaderId } },
    );
    await eventually(() => expect(upstream.requests).toHaveLength(1), 30_000);
    const before = await dedupCount(gateway, 'followers');
    const followers = Array.from({ length: 3 }, () =>
      gateway.client.chat.completions.create({ ...sharedBody('leaving'), stream: true }),
    );
    await joined(before, 3);
    // The leader's client goes before the answer starts; the gateway sees it go.
    leaderAbort.abort();
    await expect(leader).rejects.toThrow();
    expect((await completionLog(gateway, leaderId)).clientAborted).toBe(true);
    gate.open();
    // One follower leaves after its first chunk: the other two get everything.
    const [leaving, ...staying] = await Promise.all(followers);
    for await (const _chunk of leaving as AsyncIterable<unknown>) break;
    const results = await Promise.all(staying.map((stream) => readStream(stream)));
    for (const result of results) expect(result.text).toBe(pieces.join(''));
    expect(upstream.requests).toHaveLength(1);
    expect(upstream.requests[0]?.wasAborted()).toBe(false);
  });

  it('lets the followers retry when the leader fails before answering', async () => {
    upstream.reset();
    const gate = newGate();
    upstream.next(async (_req, res) => {
      await gate.opened;
      json(res, 500, { error: { message: 'boom', type: 'server_error' } });
    });
    upstream.always((_req, res) => json(res, 200, chatCompletion('second try')));
    const before = await dedupCount(gateway, 'followers');
    const leader = gateway.client.chat.completions.create(sharedBody('failing leader'));
    await eventually(() => expect(upstream.requests).toHaveLength(1), 30_000);
    const followers = Array.from({ length: 4 }, () =>
      gateway.client.chat.completions.create(sharedBody('failing leader')),
    );
    await joined(before, 4);
    gate.open();
    // The leader's own call failed: its client gets that error, as without deduplication.
    expect((await apiError(leader)).status).toBe(502);
    for (const result of await Promise.all(followers))
      expect(result.choices[0]?.message.content).toBe('second try');
    // One of the followers made the second call for all of them.
    expect(upstream.requests).toHaveLength(2);
  });
});

describe('deduplication turned off (DEDUP=off)', () => {
  const upstream = new FakeUpstream();
  let gateway: TestGateway;
  beforeAll(async () => {
    await upstream.start();
    gateway = await startGateway(upstreamConfig(upstream.url), { DEDUP: 'off' });
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await upstream.stop();
  });

  it('sends every identical request upstream', async () => {
    const gate = heldJson(upstream, 'each its own');
    const calls = Array.from({ length: 3 }, () =>
      gateway.client.chat.completions.create(sharedBody('dedup off')),
    );
    await eventually(() => expect(upstream.requests).toHaveLength(3), 30_000);
    gate.open();
    for (const result of await Promise.all(calls))
      expect(result.choices[0]?.message.content).toBe('each its own');
  });
});
