import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatCompletion, FakeUpstream, json } from '../helpers/fake-upstream.js';
import { startGateway, upstreamConfig, writeConfigFile } from '../helpers/gateway.js';
import { startRole } from '../helpers/gateway-process.js';
import { servicesOn, TEST_MASTER_KEY, type TestServices } from '../helpers/tenant-services.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
}
interface OtlpAttribute {
  key: string;
  value: { stringValue?: string };
}
interface OtlpExport {
  resourceSpans: {
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: { spans: OtlpSpan[] }[];
  }[];
}

/** A collector's OTLP/HTTP traces endpoint, keeping what it is sent. */
class OtlpReceiver {
  readonly exports: { contentType: string | undefined; body: OtlpExport }[] = [];
  /** What the receiver answers: 200, or a refusal for the tests of a failing collector. */
  status = 200;
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      this.exports.push({
        contentType: req.headers['content-type'],
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport,
      });
      res.writeHead(this.status, { 'content-type': 'application/json' }).end('{}');
    });
  });

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  spans(): OtlpSpan[] {
    return this.exports.flatMap(({ body }) =>
      body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)),
    );
  }

  serviceNames(): (string | undefined)[] {
    return this.exports.flatMap(({ body }) =>
      body.resourceSpans.map(
        (r) => r.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue,
      ),
    );
  }
}

/** `llm-backend serve` started with the OTEL_* variables, as an operator would set them. */
describe('traces exported over OTLP/HTTP by a gateway started with OTEL_* settings', () => {
  const upstream = new FakeUpstream();
  const receiver = new OtlpReceiver();
  const children = new Set<ChildProcess>();
  let services: TestServices;
  let secret: string;

  beforeAll(async () => {
    await upstream.start();
    await receiver.start();
    upstream.always((_req, res) => json(res, 200, chatCompletion('Hello')));
    services = await servicesOn('postgres');
    await services.tenants.create({ slug: 'test', name: 'Test' });
    secret = (await services.keys.create('test', { name: 'test', role: 'owner' })).secret;
  }, 60_000);
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await services?.close();
    await receiver.stop();
    await upstream.stop();
  }, 60_000);

  it("sends each request's spans, in the client's trace, when the gateway shuts down", async () => {
    const gateway = await startRole(
      'serve',
      {
        DATABASE_URL: services.backend.url ?? '',
        MASTER_KEY: TEST_MASTER_KEY,
        CONFIG_FILE: writeConfigFile(upstreamConfig(upstream.url)),
        TEST_UPSTREAM_KEY: 'unused',
        PORT: '0',
        OTEL_TRACES_EXPORTER: 'otlp',
        // Credentials in the URL reach the collector, never the log.
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url.replace('http://', 'http://tracer:s3cr3t@'),
        OTEL_SERVICE_NAME: 'llm-backend-under-test',
      },
      children,
    );
    const traceId = randomBytes(16).toString('hex');
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${secret}`,
        'content-type': 'application/json',
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
      },
      body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(response.status).toBe(200);
    await response.text();
    // A graceful stop exports what the batch still holds before the process exits.
    const exited = once(gateway.child, 'exit');
    gateway.child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);

    expect(receiver.exports.length).toBeGreaterThan(0);
    const started = gateway
      .output()
      .split('\n')
      .find((line) => line.includes('"msg":"tracing on"'));
    expect(started).toContain(`"endpoint":"${receiver.url}/v1/traces"`);
    expect(gateway.output()).not.toContain('s3cr3t');
    for (const sent of receiver.exports) expect(sent.contentType).toBe('application/json');
    expect(new Set(receiver.serviceNames())).toEqual(new Set(['llm-backend-under-test']));
    const spans = receiver.spans().filter((span) => span.traceId === traceId);
    expect(spans.map((span) => span.name).sort()).toEqual(
      [
        'POST /v1/chat/completions',
        'auth',
        'cache lookup',
        'chat upstream-model',
        'limits',
        'usage commit',
      ].sort(),
    );
    const server = spans.find((span) => span.name === 'POST /v1/chat/completions');
    for (const span of spans)
      if (span !== server) expect(span.parentSpanId, span.name).toBe(server?.spanId);
    const attempt = spans.find((span) => span.name === 'chat upstream-model');
    expect(upstream.requests.at(-1)?.headers.traceparent).toBe(
      `00-${traceId}-${attempt?.spanId}-01`,
    );
  }, 60_000);

  it('serves requests and shuts down cleanly while the collector refuses the spans, with a warning', async () => {
    receiver.status = 400;
    const gateway = await startGateway(upstreamConfig(upstream.url), {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
    });
    try {
      for (let i = 0; i < 2; i += 1) {
        const response = await gateway.fetch('/v1/chat/completions', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }] }),
        });
        expect(response.status).toBe(200);
        await response.text();
      }
    } finally {
      // Closing exports what is left: the collector refuses it.
      await gateway.close();
      receiver.status = 200;
    }
    const warnings = gateway.logs.filter((line) => line.msg === 'trace export failed');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.level).toBe(40);
  }, 60_000);
});
