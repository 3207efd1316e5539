import { randomBytes } from 'node:crypto';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/databases.js';
import {
  chatCompletion,
  FakeUpstream,
  json,
  newGate,
  type Script,
  textChunks,
} from '../helpers/fake-upstream.js';
import {
  completionLog,
  eventually,
  startGateway,
  type TestGateway,
  upstreamConfig,
  useUpstreamGateway,
} from '../helpers/gateway.js';

/** A client's trace context: a fresh trace and span id per call, sampled. */
function clientContext() {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

const answer: Script = (_req, res) => json(res, 200, chatCompletion('Hello'));
const broken: Script = (_req, res) =>
  json(res, 500, { error: { message: 'gpu melted', type: 'server_error' } });

/** The test config plus `gpt-ha`: two deployments of the one upstream, `first` tried first. */
function tracedConfig(upstreamUrl: string) {
  const config = upstreamConfig(upstreamUrl);
  return {
    ...config,
    models: [
      ...config.models,
      {
        name: 'gpt-ha',
        capabilities: { chat: true },
        deployments: [
          { id: 'first', provider: 'upstream', model: 'first-model', priority: 0 },
          { id: 'second', provider: 'upstream', model: 'second-model', priority: 1 },
        ],
      },
    ],
  };
}

async function chat(gateway: TestGateway, body: Record<string, unknown>, traceparent?: string) {
  const response = await gateway.fetch('/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(traceparent && { traceparent }) },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], ...body }),
  });
  // Read to the end: a stream's server span ends with its last byte.
  const text = await response.text();
  return { response, text };
}

/** The spans of one trace, once its server span has ended (it ends last). */
function traceIn(exporter: InMemorySpanExporter, traceId: string) {
  return eventually(() => {
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const server = spans.find((span) => span.kind === SpanKind.SERVER);
    if (server === undefined) throw new Error(`no server span in trace ${traceId} yet`);
    const children = spans.filter((span) => span !== server);
    return { server, children, named: (name: string) => children.filter((s) => s.name === name) };
  });
}

function expectChildOf(parent: ReadableSpan, spans: readonly ReadableSpan[]) {
  for (const span of spans) {
    expect(span.spanContext().traceId, span.name).toBe(parent.spanContext().traceId);
    expect(span.parentSpanContext?.spanId, span.name).toBe(parent.spanContext().spanId);
  }
}

describe('traces with tracing on', () => {
  const upstream = new FakeUpstream();
  const exporter = new InMemorySpanExporter();
  let gateway: TestGateway;

  beforeAll(async () => {
    await upstream.start();
    gateway = await startGateway(
      tracedConfig(upstream.url),
      {},
      { services: { spanExporter: exporter } },
    );
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream.stop();
  });
  afterEach(() => {
    upstream.reset();
    exporter.reset();
  });

  const traceOf = (traceId: string) => traceIn(exporter, traceId);

  async function tenantId() {
    return (await gateway.services.tenants.get('test')).id;
  }

  it("joins the client's trace: a server span, its steps, and the upstream call under it", async () => {
    upstream.next(answer);
    const client = clientContext();
    const { response } = await chat(gateway, { model: 'gpt-test' }, client.traceparent);
    expect(response.status).toBe(200);
    const { server, children, named } = await traceOf(client.traceId);

    expect(server.name).toBe('POST /v1/chat/completions');
    expect(server.parentSpanContext?.spanId).toBe(client.spanId);
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/v1/chat/completions',
      'http.response.status_code': 200,
      'llm_backend.request_id': response.headers.get('x-request-id'),
      'llm_backend.tenant_id': await tenantId(),
      'llm_backend.model': 'gpt-test',
      'llm_backend.deployment': expect.any(String),
      'llm_backend.provider': 'upstream',
      'llm_backend.attempts': 1,
    });
    expect(server.status.code).toBe(SpanStatusCode.UNSET);
    expect(children.map((span) => span.name).sort()).toEqual(
      ['auth', 'cache lookup', 'chat upstream-model', 'limits', 'usage commit'].sort(),
    );
    expectChildOf(server, children);

    const [attempt] = named('chat upstream-model');
    expect(attempt?.kind).toBe(SpanKind.CLIENT);
    expect(attempt?.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'upstream-model',
      'llm_backend.model': 'gpt-test',
      'llm_backend.deployment': server.attributes['llm_backend.deployment'],
      'llm_backend.provider': 'upstream',
    });
    // The request's log lines lead to its trace.
    const line = await completionLog(gateway, response.headers.get('x-request-id'));
    expect(line.traceId).toBe(client.traceId);
    // The upstream saw our attempt span as its parent, in the client's trace.
    const sent = upstream.requests[0]?.headers.traceparent;
    expect(sent).toBe(`00-${client.traceId}-${attempt?.spanContext().spanId}-01`);
    // The steps come in the request's order.
    const start = (name: string) => named(name)[0]?.startTime ?? [Infinity, 0];
    const order = ['auth', 'cache lookup', 'limits', 'chat upstream-model', 'usage commit'];
    const starts = order.map((name) => start(name)[0] * 1e9 + start(name)[1]);
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
  });

  it('traces a stream to its end, the attempt span lasting as long as the stream', async () => {
    const gate = newGate();
    const events = textChunks(['Hel', 'lo'], { usage: true });
    upstream.next(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const write = (event: unknown) => res.write(`data: ${JSON.stringify(event)}\n\n`);
      events.slice(0, 2).forEach(write);
      await gate.opened;
      events.slice(2).forEach(write);
      res.end('data: [DONE]\n\n');
    });
    const client = clientContext();
    const response = await gateway.fetch('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: client.traceparent },
      body: JSON.stringify({
        model: 'gpt-test',
        stream: true,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    });
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('Hel')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    // Mid-stream: the steps before the call are over, the upstream call is not.
    const inTrace = () =>
      exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === client.traceId);
    expect(
      inTrace()
        .map((span) => span.name)
        .sort(),
    ).toEqual(['auth', 'cache lookup', 'limits']);
    gate.open();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toContain('data: [DONE]');

    const { server, children, named } = await traceOf(client.traceId);
    expect(server.name).toBe('POST /v1/chat/completions');
    expect(server.attributes).toMatchObject({
      'http.response.status_code': 200,
      'llm_backend.stream': true,
      'llm_backend.tenant_id': await tenantId(),
      'llm_backend.model': 'gpt-test',
    });
    expect(children.map((span) => span.name).sort()).toEqual(
      ['auth', 'cache lookup', 'chat upstream-model', 'limits', 'usage commit'].sort(),
    );
    expectChildOf(server, children);
    const [attempt] = named('chat upstream-model');
    expect(attempt?.kind).toBe(SpanKind.CLIENT);
    expect(attempt?.status.code).toBe(SpanStatusCode.UNSET);
    expect(upstream.requests[0]?.headers.traceparent).toBe(
      `00-${client.traceId}-${attempt?.spanContext().spanId}-01`,
    );
  });

  it('makes one attempt span per upstream call: a failover shows both', async () => {
    upstream.next(broken, answer);
    const client = clientContext();
    const { response } = await chat(gateway, { model: 'gpt-ha' }, client.traceparent);
    expect(response.status).toBe(200);
    const { server, children } = await traceOf(client.traceId);
    const attempts = children.filter((span) => span.kind === SpanKind.CLIENT);
    expect(attempts.map((span) => span.name)).toEqual(['chat first-model', 'chat second-model']);
    expectChildOf(server, attempts);
    const [failed, served] = attempts;
    expect(failed?.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed?.attributes).toMatchObject({
      'llm_backend.deployment': 'first',
      'http.response.status_code': 500,
    });
    expect(served?.status.code).toBe(SpanStatusCode.UNSET);
    expect(served?.attributes['llm_backend.deployment']).toBe('second');
    expect(server.attributes).toMatchObject({
      'llm_backend.deployment': 'second',
      'llm_backend.attempts': 2,
    });
    // Each upstream request names its own attempt as parent.
    const parents = upstream.requests.map((r) => String(r.headers.traceparent).split('-')[2]);
    expect(parents).toEqual(attempts.map((span) => span.spanContext().spanId));
  });

  it('marks a request whose every attempt failed as failed', async () => {
    upstream.next(broken, broken);
    const client = clientContext();
    const { response } = await chat(gateway, { model: 'gpt-ha' }, client.traceparent);
    expect(response.status).toBe(502);
    const { server, children } = await traceOf(client.traceId);
    expect(server.status.code).toBe(SpanStatusCode.ERROR);
    expect(server.attributes['http.response.status_code']).toBe(502);
    const attempts = children.filter((span) => span.kind === SpanKind.CLIENT);
    expect(attempts.map((span) => span.status.code)).toEqual([
      SpanStatusCode.ERROR,
      SpanStatusCode.ERROR,
    ]);
    expect(children.map((span) => span.name)).not.toContain('usage commit');
  });

  it('records a request refused by its limits on the limits span, with no upstream call', async () => {
    const { services } = gateway;
    await services.tenants.create({ slug: 'limited', name: 'Limited' });
    const { secret } = await services.keys.create('limited', { name: 'limited', role: 'owner' });
    await services.limitRules.set('limited', { scope: 'tenant', requestsPerMinute: 1 });
    const statuses: number[] = [];
    const client = clientContext();
    for (const traceparent of [clientContext().traceparent, client.traceparent]) {
      upstream.next(answer);
      const response = await gateway.fetch('/v1/chat/completions', {
        method: 'POST',
        headers: {
          authorization: `Bearer ${secret}`,
          'content-type': 'application/json',
          traceparent,
        },
        body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }] }),
      });
      statuses.push(response.status);
      await response.text();
    }
    expect(statuses).toEqual([200, 429]);
    const { server, children, named } = await traceOf(client.traceId);
    expect(server.status.code).toBe(SpanStatusCode.UNSET);
    expect(server.attributes).toMatchObject({
      'http.response.status_code': 429,
      'llm_backend.error_code': 'rate_limit_exceeded',
      'llm_backend.tenant_id': (await services.tenants.get('limited')).id,
    });
    expect(children.map((span) => span.name).sort()).toEqual(['auth', 'cache lookup', 'limits']);
    const [limits] = named('limits');
    expect(limits?.status.code).toBe(SpanStatusCode.ERROR);
    expect(limits?.attributes['error.type']).toBe('rate_limit_exceeded');
  });

  it('makes no spans for health checks and metrics scrapes', async () => {
    for (const path of ['/health/live', '/metrics']) {
      const response = await gateway.fetch(path, {
        headers: { traceparent: clientContext().traceparent },
      });
      expect(response.status).toBe(200);
      await response.text();
      const requestId = response.headers.get('x-request-id');
      // Its log line is written by the same listeners, just before a span would end.
      const line = await completionLog(gateway, requestId);
      expect(line).not.toHaveProperty('traceId');
      const spans = exporter.getFinishedSpans();
      expect(
        spans.filter((span) => span.attributes['llm_backend.request_id'] === requestId),
      ).toEqual([]);
    }
  });

  it('starts a trace of its own when the traceparent is malformed, and answers as usual', async () => {
    upstream.next(answer);
    const { response } = await chat(gateway, { model: 'gpt-test' }, 'not-a-traceparent');
    expect(response.status).toBe(200);
    const sent = String(upstream.requests[0]?.headers.traceparent);
    expect(sent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const { server } = await traceOf(sent.split('-')[1] ?? '');
    expect(server.parentSpanContext).toBeUndefined();
    expect(server.attributes['llm_backend.request_id']).toBe(response.headers.get('x-request-id'));
  });

  it('traces an admin call of a platform key with the tenant it acts on', async () => {
    const client = clientContext();
    const response = await gateway.fetch('/admin/v1/tenants/test/users', {
      headers: { authorization: `Bearer ${gateway.adminKey}`, traceparent: client.traceparent },
    });
    expect(response.status).toBe(200);
    const { server, children } = await traceOf(client.traceId);
    expect(server.name).toBe('GET /admin/v1/tenants/:tenant/users');
    expect(server.attributes).toMatchObject({
      'http.response.status_code': 200,
      'llm_backend.tenant_id': await tenantId(),
    });
    expect(children.map((span) => span.name)).toEqual(['auth']);
    expectChildOf(server, children);
  });

  it('records a refused key on the auth span', async () => {
    const client = clientContext();
    const response = await gateway.fetch('/v1/models', {
      headers: { authorization: 'Bearer llmb_not_a_key', traceparent: client.traceparent },
    });
    expect(response.status).toBe(401);
    const { server, children } = await traceOf(client.traceId);
    // A 4xx is the client's: the server span is not an error, the auth step is.
    expect(server.status.code).toBe(SpanStatusCode.UNSET);
    expect(server.attributes['llm_backend.error_code']).toBe('invalid_api_key');
    expect(children.map((span) => [span.name, span.status.code])).toEqual([
      ['auth', SpanStatusCode.ERROR],
    ]);
  });
});

/** `gpt-test` with the semantic cache, embedding with the mock provider's `mock-embedding`. */
function semanticConfig(upstreamUrl: string) {
  const config = upstreamConfig(upstreamUrl);
  const [chatModel, ...rest] = config.models as Record<string, unknown>[];
  return {
    ...config,
    models: [
      {
        ...chatModel,
        cache: {
          enabled: true,
          semantic: { enabled: true, embedding_model: 'mock-embedding', threshold: 0.95 },
        },
      },
      { name: 'mock-embedding', provider: 'mock', capabilities: { chat: false, embeddings: true } },
      ...rest,
    ],
  };
}

describe.each(BACKENDS)('the semantic cache in a trace on %s', (database) => {
  const upstream = new FakeUpstream();
  const exporter = new InMemorySpanExporter();
  let gateway: TestGateway;

  beforeAll(async () => {
    await upstream.start();
    gateway = await startGateway(
      semanticConfig(upstream.url),
      {},
      { database, services: { spanExporter: exporter } },
    );
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await upstream.stop();
  });

  it("nests the semantic cache's embedding call under its lookup span", async () => {
    upstream.next(answer);
    const client = clientContext();
    const response = await gateway.fetch('/v1/chat/completions', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-llm-backend-semantic-cache': 'on',
        traceparent: client.traceparent,
      },
      body: JSON.stringify({
        model: 'gpt-test',
        temperature: 0,
        messages: [{ role: 'user', content: `traced ${randomBytes(8).toString('hex')}` }],
      }),
    });
    expect(response.status).toBe(200);
    await response.text();
    const { server, children, named } = await traceIn(exporter, client.traceId);
    const [lookup] = named('semantic cache lookup');
    expect(lookup?.attributes['llm_backend.cache.outcome']).toBe('miss');
    const [embedding] = named('embeddings mock-embedding');
    expect(embedding?.kind).toBe(SpanKind.CLIENT);
    expect(embedding?.parentSpanContext?.spanId).toBe(lookup?.spanContext().spanId);
    expectChildOf(
      server,
      children.filter((span) => span !== embedding),
    );
    expect(named('chat upstream-model')).toHaveLength(1);
  });
});

describe('upstream trace context with tracing off', () => {
  const { upstream, gateway } = useUpstreamGateway();

  it("passes the client's traceparent and tracestate upstream unchanged", async () => {
    upstream.next(answer);
    const client = clientContext();
    const response = await gateway.fetch('/v1/chat/completions', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        traceparent: client.traceparent,
        tracestate: 'vendor=abc',
      },
      body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(response.status).toBe(200);
    expect(upstream.requests[0]?.headers).toMatchObject({
      traceparent: client.traceparent,
      tracestate: 'vendor=abc',
    });
  });

  it('adds no trace context when the client sent none, or a malformed one', async () => {
    upstream.next(answer, answer);
    for (const traceparent of [undefined, '00-xyz-abc-01']) {
      const { response } = await chat(gateway, { model: 'gpt-test' }, traceparent);
      expect(response.status).toBe(200);
    }
    expect(upstream.requests).toHaveLength(2);
    for (const request of upstream.requests) {
      expect(request.headers.traceparent).toBeUndefined();
      expect(request.headers.tracestate).toBeUndefined();
    }
  });
});
