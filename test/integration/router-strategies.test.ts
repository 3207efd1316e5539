import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeUpstream, json } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const upstream = new FakeUpstream();
const gateway = {} as TestGateway;

const mock = (latency_ms = 0) => ({ type: 'mock', latency_ms });
const deployment = (provider: string, extra: Record<string, unknown> = {}) => ({
  provider,
  ...extra,
});

function config() {
  return {
    providers: {
      'mock-a': mock(),
      'mock-b': mock(),
      'slow-a': mock(250),
      'slow-b': mock(250),
      fast: mock(0),
      sluggish: mock(60),
      flaky: { type: 'openai-compatible', base_url: upstream.url },
    },
    models: [
      {
        name: 'weighted',
        deployments: [deployment('mock-a', { weight: 3 }), deployment('mock-b', { weight: 1 })],
        routing: { strategy: 'weighted' },
      },
      {
        name: 'priced',
        deployments: [
          deployment('mock-a', { pricing: { input: 5, output: 15 } }),
          deployment('mock-b', { pricing: { input: 0.5, output: 1.5 } }),
        ],
        routing: { strategy: 'lowest-cost' },
        pricing: { input: 5, output: 15 },
      },
      {
        name: 'ordered',
        deployments: [
          deployment('mock-a', { priority: 0, pricing: { input: 5, output: 15 } }),
          deployment('mock-b', { priority: 1, pricing: { input: 0.5, output: 1.5 } }),
        ],
      },
      {
        name: 'busy',
        deployments: [deployment('slow-a'), deployment('slow-b')],
        routing: { strategy: 'least-busy' },
      },
      {
        name: 'latency',
        deployments: [deployment('sluggish'), deployment('fast')],
        routing: { strategy: 'least-latency' },
      },
      {
        name: 'metered',
        deployments: [
          deployment('mock-a', { priority: 0, requests_per_minute: 2 }),
          deployment('mock-b', { priority: 1 }),
        ],
      },
      { name: 'patient', provider: 'flaky', routing: { retries: 1 } },
      { name: 'primary', provider: 'flaky', routing: { fallbacks: ['backup'] } },
      { name: 'backup', provider: 'mock-b' },
      {
        name: 'small',
        provider: 'flaky',
        routing: { fallbacks: ['backup'], context_window_fallbacks: ['large'] },
      },
      { name: 'large', provider: 'mock-a' },
    ],
  };
}

async function served(
  model: string,
  client = gateway.client,
  headers: Record<string, string> = {},
) {
  const { response } = await client.chat.completions
    .create({ model, messages: [{ role: 'user', content: 'Hi' }] }, { headers })
    .withResponse();
  return {
    deployment: response.headers.get('x-llm-backend-deployment'),
    model: response.headers.get('x-llm-backend-model'),
    attempts: response.headers.get('x-llm-backend-attempts'),
  };
}

beforeAll(async () => {
  await upstream.start();
  Object.assign(gateway, await startGateway(config()));
});
afterAll(async () => {
  await gateway.close?.();
  await upstream.stop();
});

describe('load balancing strategies', () => {
  it('weighted: spreads requests by weight, within statistical bounds', async () => {
    const total = 400;
    const counts = new Map<string | null, number>();
    for (let i = 0; i < total; i += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => served('weighted')));
      for (const { deployment: id } of batch) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const share = (counts.get('mock-a') ?? 0) / total;
    // Expected 0.75; the standard deviation of the share is about 0.022: 0.1 is 4.6 of them.
    expect(share).toBeGreaterThan(0.65);
    expect(share).toBeLessThan(0.85);
    expect((counts.get('mock-a') ?? 0) + (counts.get('mock-b') ?? 0)).toBe(total);
  });

  it('lowest-cost: every request goes to the cheap deployment', async () => {
    for (let i = 0; i < 10; i++) expect((await served('priced')).deployment).toBe('mock-b');
  });

  it('a request may choose another strategy with a header', async () => {
    expect((await served('ordered')).deployment).toBe('mock-a');
    const cheap = await served('ordered', gateway.client, {
      'x-llm-backend-strategy': 'lowest-cost',
    });
    expect(cheap.deployment).toBe('mock-b');
    const error = await served('ordered', gateway.client, {
      'x-llm-backend-strategy': 'fastest',
    }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 400, param: 'x-llm-backend-strategy' });
  });

  it('least-busy: a request goes to the deployment with nothing in flight', async () => {
    const first = served('busy');
    // Let the first request reach its deployment before the second is routed.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await served('busy');
    expect(second.deployment).not.toBe((await first).deployment);
  });

  it('least-latency: once both are measured, the faster deployment takes the traffic', async () => {
    // Deployments never measured go first, so two requests measure both.
    const measured = new Set([(await served('latency')).deployment]);
    measured.add((await served('latency')).deployment);
    expect(measured).toEqual(new Set(['sluggish', 'fast']));
    for (let i = 0; i < 5; i++) expect((await served('latency')).deployment).toBe('fast');
  });

  it('a deployment at its own requests_per_minute is passed over', async () => {
    expect((await served('metered')).deployment).toBe('mock-a');
    expect((await served('metered')).deployment).toBe('mock-a');
    expect((await served('metered')).deployment).toBe('mock-b');
  });
});

describe('retries and fallback models', () => {
  it('honours the upstream retry-after before retrying the same deployment', async () => {
    upstream.reset();
    upstream.next((_req, res) =>
      json(
        res,
        429,
        { error: { message: 'slow down', type: 'rate_limit_error' } },
        {
          'retry-after': '1',
        },
      ),
    );
    upstream.always((_req, res) => json(res, 200, { ...okBody(), model: 'patient' }));
    const retries = async () => {
      const text = await (await fetch(`${gateway.url}/metrics`)).text();
      const pattern =
        /^llm_backend_upstream_retries_total\{model="patient",deployment="flaky"\} (\d+)$/m;
      return Number(pattern.exec(text)?.[1] ?? 0);
    };
    const before = await retries();
    const started = Date.now();
    const result = await served('patient');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(result.attempts).toBe('2');
    expect(upstream.requests).toHaveLength(2);
    expect(await retries()).toBe(before + 1);
  });

  it('a retry-after longer than max_retry_after_ms reaches the client instead', async () => {
    upstream.reset();
    upstream.always((_req, res) =>
      json(
        res,
        429,
        { error: { message: 'come back later', type: 'rate_limit_error' } },
        {
          'retry-after': '120',
        },
      ),
    );
    const error = await served('patient').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe(
      '120',
    );
    expect(upstream.requests).toHaveLength(1);
    expect(
      (error as InstanceType<typeof OpenAI.RateLimitError>).headers.get('x-llm-backend-attempts'),
    ).toBe('1');
  });

  it('falls back to another model when every deployment of the first failed', async () => {
    upstream.reset();
    upstream.always((_req, res) => json(res, 503, { error: { message: 'down' } }));
    const result = await served('primary');
    expect(result).toMatchObject({ model: 'backup', deployment: 'mock-b', attempts: '2' });
  });

  it('a fallback model the key may not use is not used', async () => {
    upstream.reset();
    upstream.always((_req, res) => json(res, 503, { error: { message: 'down' } }));
    const { secret } = await gateway.services.keys.create('test', {
      name: 'primary-only',
      role: 'member',
      allowedModels: ['primary'],
    });
    const client = new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const error = await served('primary', client).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 502, code: 'upstream_error' });
    // One attempt: the fallback was never tried.
    expect(
      (error as InstanceType<typeof OpenAI.APIError>).headers?.get('x-llm-backend-attempts'),
    ).toBe('1');
  });

  it('a request too long for the model goes to its larger-context fallback', async () => {
    upstream.reset();
    upstream.always((_req, res) =>
      json(res, 400, {
        error: {
          message: "This model's maximum context length is 8192 tokens.",
          type: 'invalid_request_error',
          code: 'context_length_exceeded',
        },
      }),
    );
    const result = await served('small');
    // The context fallback, not the ordinary one: `backup` would fail the same way.
    expect(result).toMatchObject({ model: 'large', deployment: 'mock-a', attempts: '2' });
  });
});

function okBody() {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1_700_000_000,
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
  };
}
