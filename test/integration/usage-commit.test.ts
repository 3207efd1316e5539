import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryProvisionalUsage } from '../../src/services/usage/provisional-usage.js';
import { RedisProvisionalUsage } from '../../src/services/usage/redis-provisional-usage.js';
import { UsageCommitter } from '../../src/services/usage/usage-commit.js';
import { UsagePublisher } from '../../src/services/usage/usage-publisher.js';
import { chatCompletion, FakeUpstream, json, sse, textChunks } from '../helpers/fake-upstream.js';
import {
  completionLog,
  eventually,
  startGateway,
  type TestGateway,
  upstreamConfig,
} from '../helpers/gateway.js';
import { TEST_REDIS_URL } from '../helpers/limit-stores.js';
import { observe } from '../helpers/observed-queue.js';
import { TEST_REDIS } from '../helpers/services.js';
import { CuttableProxy } from '../helpers/tcp-proxy.js';
import { openQueue, QUEUE_KINDS, usageEvent } from '../helpers/usage-queues.js';

const quiet = { warn: () => {}, error: () => {} };
/** These publishers never stop with events left: nothing may reach a database directly. */
const noDirectWrites = {
  write: async (): Promise<number> => {
    throw new Error('no direct writes expected here');
  },
};

/** Every entry on the queue, read and acknowledged by one reader: ids of the events. */
async function queuedIds(queue: ReturnType<typeof openQueue>): Promise<string[]> {
  const read = await queue.read('reader', 10_000, 10);
  await queue.ack(read.map((delivery) => delivery.id));
  return read.map((delivery) => delivery.event?.id ?? '');
}

describe.each(QUEUE_KINDS)('group commit on the %s queue', (kind) => {
  it('commits many concurrent events in fewer writes than events, each queued once', async () => {
    const queue = openQueue(kind);
    const observed = observe(queue);
    const publisher = new UsagePublisher({ queue, records: noDirectWrites, log: quiet });
    try {
      const events = Array.from({ length: 40 }, () => usageEvent('tnt_group'));
      await Promise.all(events.map((event) => publisher.commit(event)));
      expect(observed.batches.length).toBeGreaterThan(0);
      expect(observed.batches.length).toBeLessThan(events.length);
      const ids = await queuedIds(queue);
      expect(ids.sort()).toEqual(events.map((event) => event.id).sort());
    } finally {
      await publisher.close();
      await queue.close();
    }
  });

  it('puts the events committed while a write is in flight into the next write, together', async () => {
    const queue = openQueue(kind);
    const observed = observe(queue);
    const publisher = new UsagePublisher({ queue, records: noDirectWrites, log: quiet });
    try {
      observed.hold();
      const first = usageEvent('tnt_group');
      const committed = [publisher.commit(first)];
      await observed.written((event) => event.id === first.id);
      const later = Array.from({ length: 9 }, () => usageEvent('tnt_group'));
      committed.push(...later.map((event) => publisher.commit(event)));
      observed.release();
      await Promise.all(committed);
      expect(observed.batches.map((batch) => batch.length)).toEqual([1, 9]);
      expect((await queuedIds(queue)).sort()).toEqual([first, ...later].map((e) => e.id).sort());
    } finally {
      await publisher.close();
      await queue.close();
    }
  });
});

describe('a commit while Redis is away', () => {
  const proxy = new CuttableProxy(TEST_REDIS.host, TEST_REDIS.port);
  beforeAll(() => proxy.start());
  afterAll(() => proxy.stop());

  it('gives up waiting after the timeout, keeps the event, and queues it once Redis is back', async () => {
    const queue = openQueue('redis', { url: proxy.url });
    const direct = openQueue('redis', { stream: queue.stream });
    const publisher = new UsagePublisher({
      queue,
      records: noDirectWrites,
      log: quiet,
      retryMs: 50,
    });
    const outcomes: string[] = [];
    const committer = new UsageCommitter({
      publisher,
      provisional: new MemoryProvisionalUsage(),
      timeoutMs: 200,
      progressMs: 1000,
      log: quiet,
      onWait: (_seconds, outcome) => outcomes.push(outcome),
    });
    try {
      await proxy.cut();
      const event = usageEvent('tnt_down');
      await committer.commit(event);
      expect(outcomes).toEqual(['timed_out']);
      expect(publisher.buffered).toBe(1);
      await proxy.restore();
      await eventually(() => expect(publisher.buffered).toBe(0), 15_000);
      expect(await queuedIds(direct)).toEqual([event.id]);
    } finally {
      await publisher.close();
      await queue.close();
      await direct.close();
    }
  }, 30_000);
});

describe('answers while the usage queue is away', () => {
  const upstream = new FakeUpstream();
  const proxy = new CuttableProxy(TEST_REDIS.host, TEST_REDIS.port);
  let queue: ReturnType<typeof openQueue>;
  let gateway: TestGateway;

  beforeAll(async () => {
    await upstream.start();
    upstream.always((req, res) => {
      const body = req.body as { stream?: boolean };
      if (body.stream) return sse(res, textChunks(['a', 'b'], { usage: true }));
      json(res, 200, chatCompletion('ok'));
    });
    await proxy.start();
    queue = openQueue('redis', { url: proxy.url });
    gateway = await startGateway(
      upstreamConfig(upstream.url),
      { USAGE_COMMIT_TIMEOUT_MS: '200' },
      { services: { usageQueue: queue } },
    );
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await queue?.close();
    await proxy.stop();
    await upstream.stop();
  }, 60_000);

  it('are sent after the commit timeout, and their events queued once when it is back', async () => {
    await proxy.cut();
    const whole = await gateway.client.chat.completions.create(
      { model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }] },
      { headers: { 'x-request-id': 'req-away-whole' } },
    );
    expect(whole.choices[0]?.message.content).toBe('ok');
    const stream = await gateway.client.chat.completions.create(
      { model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }], stream: true },
      { headers: { 'x-request-id': 'req-away-stream' } },
    );
    let chunks = 0;
    for await (const _chunk of stream) chunks++;
    expect(chunks).toBe(4);
    await completionLog(gateway, 'req-away-stream');
    const metrics = await (await gateway.fetch('/metrics')).text();
    expect(metrics).toMatch(
      /^llm_backend_usage_commit_wait_seconds_count\{outcome="timed_out"\} 2$/m,
    );
    expect(gateway.services.usagePublisher.buffered).toBe(2);
    await proxy.restore();
    await eventually(() => expect(gateway.services.usagePublisher.buffered).toBe(0), 15_000);
    const queued = await queue.read('reader', 100, 10);
    expect(queued.map((delivery) => delivery.event?.requestId).sort()).toEqual([
      'req-away-stream',
      'req-away-whole',
    ]);
  }, 30_000);
});

describe('a commit on a busy event loop', () => {
  it('counts a reply that arrived while the loop was blocked past the deadline', async () => {
    const queue = openQueue('redis');
    const observed = observe(queue);
    const publisher = new UsagePublisher({ queue, records: noDirectWrites, log: quiet });
    const outcomes: string[] = [];
    const committer = new UsageCommitter({
      publisher,
      provisional: new MemoryProvisionalUsage(),
      timeoutMs: 20,
      progressMs: 1000,
      log: quiet,
      onWait: (_seconds, outcome) => outcomes.push(outcome),
    });
    try {
      // Connected first: the write below must go out at once, not wait for a handshake.
      await committer.commit(usageEvent('tnt_busy'));
      await queuedIds(queue);
      const event = usageEvent('tnt_busy');
      const committing = committer.commit(event);
      await observed.written((written) => written.id === event.id);
      // The write is on the wire; the loop is now blocked well past the deadline.
      const until = Date.now() + 1000;
      while (Date.now() < until) {}
      await committing;
      expect(outcomes).toEqual(['committed', 'committed']);
      expect(await queuedIds(queue)).toEqual([event.id]);
    } finally {
      await publisher.close();
      await queue.close();
    }
  });
});

describe('an answer leaves only once its usage event is queued', () => {
  const upstream = new FakeUpstream();
  const queue = openQueue('redis');
  const observed = observe(queue);
  const redis = new Redis(TEST_REDIS_URL);
  const provisional = new RedisProvisionalUsage({ client: redis, stream: queue.stream });
  let gateway: TestGateway;

  beforeAll(async () => {
    await upstream.start();
    upstream.always((req, res) => {
      const body = req.body as { stream?: boolean };
      if (body.stream) return sse(res, textChunks(['a', 'b', 'c'], { usage: true }));
      json(res, 200, chatCompletion('ok'));
    });
    gateway = await startGateway(
      upstreamConfig(upstream.url),
      { USAGE_PROGRESS_MS: '100' },
      { services: { usageQueue: queue, usageProgress: provisional } },
    );
  }, 60_000);
  afterAll(async () => {
    observed.release();
    await gateway?.close();
    await queue.close();
    await redis.del(`{${queue.stream}}:provisional`, `{${queue.stream}}:provisional:at`);
    redis.disconnect();
    await upstream.stop();
  }, 60_000);

  /** Events queued for the request, once its end (and any event made there) has passed. */
  async function eventsOf(requestId: string) {
    await completionLog(gateway, requestId);
    await eventually(() => expect(gateway.services.usagePublisher.buffered).toBe(0));
    await gateway.fetch('/v1/models');
    return observed.batches.flat().filter((event) => event.requestId === requestId);
  }

  it('holds a whole response until its event is in Redis', async () => {
    const requestId = 'req-commit-whole';
    observed.hold();
    let received = false;
    const answer = gateway.client.chat.completions
      .create(
        { model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }] },
        { headers: { 'x-request-id': requestId } },
      )
      .then((completion) => {
        received = true;
        observed.log.push(`received:${requestId}`);
        return completion;
      });
    await observed.written((event) => event.requestId === requestId);
    // The gateway answers other requests meanwhile; this one waits for its event.
    expect((await gateway.fetch('/v1/models')).status).toBe(200);
    expect(received).toBe(false);
    observed.release();
    expect((await answer).choices[0]?.message.content).toBe('ok');
    expect(observed.log.filter((entry) => entry.endsWith(requestId))).toEqual([
      `acked:${requestId}`,
      `received:${requestId}`,
    ]);
    const events = await eventsOf(requestId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ status: 200, streamed: false, clientDisconnected: false });
  });

  it('holds a stream’s final [DONE] until its event is in Redis, then drops its progress record', async () => {
    const requestId = 'req-commit-stream';
    observed.hold();
    const stream = await gateway.client.chat.completions.create(
      { model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }], stream: true },
      { headers: { 'x-request-id': requestId } },
    );
    let chunks = 0;
    let done = false;
    const reading = (async () => {
      for await (const _chunk of stream) chunks++;
      done = true;
      observed.log.push(`received:${requestId}`);
    })();
    await observed.written((event) => event.requestId === requestId);
    // Role, three pieces and the finish chunk went out before the commit; [DONE] waits.
    await eventually(() => expect(chunks).toBe(5));
    expect((await gateway.fetch('/v1/models')).status).toBe(200);
    expect(done).toBe(false);
    observed.release();
    await reading;
    expect(observed.log.filter((entry) => entry.endsWith(requestId))).toEqual([
      `acked:${requestId}`,
      `received:${requestId}`,
    ]);
    const events = await eventsOf(requestId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ status: 200, streamed: true, clientDisconnected: false });
    expect(events[0]?.usage.completionTokens).toBeGreaterThan(0);
    await eventually(async () => expect(await provisional.size()).toBe(0));
  });

  it('reports how long answers waited for the commit', async () => {
    const metrics = await (await gateway.fetch('/metrics')).text();
    expect(metrics).toMatch(
      /^llm_backend_usage_commit_wait_seconds_count\{outcome="committed"\} [1-9]\d*$/m,
    );
  });
});
