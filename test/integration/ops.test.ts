import { describe, expect, it } from 'vitest';
import { chatCompletion, json } from '../helpers/fake-upstream.js';
import { completionLog, TEST_UPSTREAM_KEY, useUpstreamGateway } from '../helpers/gateway.js';

const { upstream, gateway } = useUpstreamGateway();
upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));

describe('operations endpoints', () => {
  it('health: live and ready', async () => {
    const live = await fetch(`${gateway.url}/health/live`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${gateway.url}/health/ready`);
    const body = (await ready.json()) as { status: string; deployments: unknown[] };
    expect(body.status).toBe('ready');
    // Every deployment of every model, with its circuit; none has been called yet.
    expect(body.deployments).toContainEqual({
      model: 'gpt-test',
      deployment: 'upstream',
      provider: 'upstream',
      circuit: 'closed',
      in_flight: 0,
      latency_ms: null,
      cooling_down_until: null,
    });
  });

  it('metrics count requests by route and status, and tokens by model', async () => {
    await gateway.client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    await gateway.fetch(`/v1/models/nope`);
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(text).toMatch(
      /llm_backend_http_requests_total\{method="POST",route="\/v1\/chat\/completions",status="200"\} [1-9]/,
    );
    expect(text).toMatch(
      /llm_backend_http_requests_total\{method="GET",route="\/v1\/models\/\*",status="404"\} 1/,
    );
    expect(text).toContain('llm_backend_http_request_duration_seconds_bucket');
    expect(text).toMatch(
      /llm_backend_tokens_total\{tenant="test",model="gpt-test",provider="upstream",kind="input",estimated="false"\} 9/,
    );
    expect(text).toContain('llm_backend_process_cpu_user_seconds_total');
  });

  it('serves the OpenAPI document generated from the routes, and Swagger UI', async () => {
    const spec = (await (await fetch(`${gateway.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<
        string,
        { post: { requestBody: { content: Record<string, { schema: { required: string[] } }> } } }
      >;
    };
    expect(spec.openapi).toBe('3.1.0');
    for (const path of [
      '/v1/chat/completions',
      '/v1/completions',
      '/v1/embeddings',
      '/v1/models',
      '/health/ready',
      '/v1/models/{model}',
    ]) {
      expect(Object.keys(spec.paths)).toContain(path);
    }
    const chat = spec.paths['/v1/chat/completions']?.post;
    expect(chat?.requestBody.content['application/json']?.schema.required).toEqual([
      'model',
      'messages',
    ]);
    const docs = await fetch(`${gateway.url}/docs/`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger');
  });
});

describe('request ids', () => {
  it('keeps a well-formed inbound x-request-id', async () => {
    const response = await fetch(`${gateway.url}/health/live`, {
      headers: { 'x-request-id': 'client-abc.123' },
    });
    expect(response.headers.get('x-request-id')).toBe('client-abc.123');
  });

  it('replaces a malformed one and sends its own upstream', async () => {
    const { response } = await gateway.client.chat.completions
      .create(
        { model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }] },
        { headers: { 'x-request-id': 'bad id\twith spaces' } },
      )
      .withResponse();
    const id = response.headers.get('x-request-id');
    expect(id).toMatch(/^req_[0-9a-z]+$/);
    expect(upstream.requests.at(-1)?.headers['x-request-id']).toBe(id);
  });
});

describe('logs', () => {
  it('write one structured line per request with model, provider, tokens and status, and no secrets', async () => {
    const { response } = await gateway.client.chat.completions
      .create({ model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }] })
      .withResponse();
    const requestId = response.headers.get('x-request-id');
    const line = await completionLog(gateway, requestId);
    expect(line).toMatchObject({
      route: '/v1/chat/completions',
      status: 200,
      model: 'gpt-test',
      provider: 'upstream',
      stream: false,
      tokens: { prompt: 9, completion: 4, cached: 2, total: 13, estimated: false },
    });
    expect(typeof line.latencyMs).toBe('number');
    const all = JSON.stringify(gateway.logs);
    expect(all).not.toContain('sk-client-test');
    expect(all).not.toContain(TEST_UPSTREAM_KEY);
  });
});
