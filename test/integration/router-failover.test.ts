import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  chatCompletion,
  FakeUpstream,
  json,
  type Script,
  sse,
  stall,
  textChunks,
} from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const east = new FakeUpstream();
const west = new FakeUpstream();
const gateway = {} as TestGateway;

const fail =
  (status: number): Script =>
  (_req, res) =>
    json(res, status, { error: { message: `upstream says ${status}`, type: 'server_error' } });
const answer =
  (text: string): Script =>
  (_req, res) =>
    json(res, 200, chatCompletion(text));

/** Two OpenAI-compatible upstreams serving one model: east first, west as the fallback. */
function routedConfig(failureThreshold: number) {
  return {
    providers: {
      east: {
        type: 'openai-compatible',
        base_url: east.url,
        timeouts: { first_byte_ms: 300 },
      },
      west: { type: 'openai-compatible', base_url: west.url },
    },
    routing: { circuit_breaker: { failure_threshold: failureThreshold, cooldown_ms: 400 } },
    models: [
      {
        name: 'gpt-ha',
        deployments: [
          { provider: 'east', model: 'east-model', priority: 0 },
          { provider: 'west', model: 'west-model', priority: 1 },
        ],
      },
    ],
  };
}

async function create(via: TestGateway = gateway) {
  const { data, response } = await via.client.chat.completions
    .create({ model: 'gpt-ha', messages: [{ role: 'user', content: 'Hi' }] })
    .withResponse();
  return { data, headers: response.headers };
}

async function createStream(via: TestGateway = gateway) {
  const { data, response } = await via.client.chat.completions
    .create({ model: 'gpt-ha', messages: [{ role: 'user', content: 'Hi' }], stream: true })
    .withResponse();
  return { data, headers: response.headers };
}

beforeAll(async () => {
  await Promise.all([east.start(), west.start()]);
  // Circuits open only after many failures here; the breaker has its own gateway below.
  Object.assign(gateway, await startGateway(routedConfig(100)));
});
afterAll(async () => {
  await gateway.close?.();
  await Promise.all([east.stop(), west.stop()]);
});
afterEach(() => {
  east.reset();
  west.reset();
  east.always(answer('from east'));
  west.always(answer('from west'));
});

/** A counter's value on the shared gateway's /metrics (0 before its first count). */
async function counter(pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

const FAILOVERS =
  /^llm_backend_upstream_failovers_total\{model="gpt-ha",from_deployment="east",to_deployment="west"\} (\d+)$/m;

describe('failover between deployments of one model', () => {
  it('serves from the first deployment by priority when it is healthy', async () => {
    east.always(answer('from east'));
    const { data, headers } = await create();
    expect(data.choices[0]?.message.content).toBe('from east');
    expect(headers.get('x-llm-backend-deployment')).toBe('east');
    expect(headers.get('x-llm-backend-attempts')).toBe('1');
    expect(east.requests[0]?.body?.model).toBe('east-model');
    expect(west.requests).toHaveLength(0);
  });

  it('a 500 from the first deployment is answered by the second, with no client error', async () => {
    const before = await counter(FAILOVERS);
    east.next(fail(500));
    west.always(answer('from west'));
    const { data, headers } = await create();
    expect(data.choices[0]?.message.content).toBe('from west');
    expect(headers.get('x-llm-backend-deployment')).toBe('west');
    expect(headers.get('x-llm-backend-model')).toBe('gpt-ha');
    expect(headers.get('x-llm-backend-attempts')).toBe('2');
    expect(east.requests).toHaveLength(1);
    expect(west.requests[0]?.body?.model).toBe('west-model');
    expect(await counter(FAILOVERS)).toBe(before + 1);
  });

  it('a deployment that does not answer in time is left for the next one', async () => {
    east.next(stall);
    const { data, headers } = await create();
    expect(data.choices[0]?.message.content).toBe('from west');
    expect(headers.get('x-llm-backend-attempts')).toBe('2');
  });

  it('a 400 is the request’s fault: no other deployment is tried', async () => {
    east.next((_req, res) =>
      json(res, 400, { error: { message: 'bad temperature', type: 'invalid_request_error' } }),
    );
    const error = await create().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 400, error: { message: 'bad temperature' } });
    expect(west.requests).toHaveLength(0);
  });

  it('a stream that fails before its first byte moves to the next deployment', async () => {
    east.next(fail(503));
    west.next((_req, res) => sse(res, textChunks(['West', ' streams'], { usage: true })));
    const { data, headers } = await createStream();
    let text = '';
    for await (const part of data) text += part.choices[0]?.delta.content ?? '';
    expect(text).toBe('West streams');
    expect(headers.get('x-llm-backend-deployment')).toBe('west');
    expect(headers.get('x-llm-backend-attempts')).toBe('2');
  });

  it('never falls back once the first streamed byte reached the client', async () => {
    // The gap lets each chunk leave before the connection is cut.
    east.next((_req, res) =>
      sse(res, textChunks(['Half', ' of', ' it']), { cutAfter: 3, gapMs: 20 }),
    );
    const { data, headers } = await createStream();
    expect(headers.get('x-llm-backend-deployment')).toBe('east');
    let text = '';
    await expect(
      (async () => {
        for await (const part of data) text += part.choices[0]?.delta.content ?? '';
      })(),
    ).rejects.toThrow();
    // What the client got came from east alone, and stopped short.
    expect(text).toMatch(/^Half/);
    expect(text).not.toBe('Half of it');
    expect(west.requests).toHaveLength(0);
  });
});

describe('circuit breakers', () => {
  const guarded = {} as TestGateway;
  beforeAll(async () => {
    Object.assign(guarded, await startGateway(routedConfig(2)));
  });
  afterAll(() => guarded.close());

  const eastCircuit = async () => {
    const ready = (await (await fetch(`${guarded.url}/health/ready`)).json()) as {
      deployments: { deployment: string; circuit: string }[];
    };
    return ready.deployments.find((d) => d.deployment === 'east')?.circuit;
  };

  it('open after repeated failures, keep traffic off, and close after a good probe', async () => {
    east.always(fail(502));
    for (let i = 0; i < 2; i++) await create(guarded);
    expect(east.requests).toHaveLength(2);
    expect(await eastCircuit()).toBe('open');
    const metrics = await (await fetch(`${guarded.url}/metrics`)).text();
    expect(metrics).toMatch(
      /llm_backend_deployment_circuit_state\{model="gpt-ha",deployment="east"\} 2/,
    );
    // While open, requests go straight to west: east is not called at all.
    for (let i = 0; i < 3; i++) {
      const { headers } = await create(guarded);
      expect(headers.get('x-llm-backend-attempts')).toBe('1');
      expect(headers.get('x-llm-backend-deployment')).toBe('west');
    }
    expect(east.requests).toHaveLength(2);
    // After the cooldown, one probe goes through; a success closes the circuit.
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect(await eastCircuit()).toBe('half_open');
    east.always(answer('east is back'));
    const { data } = await create(guarded);
    expect(data.choices[0]?.message.content).toBe('east is back');
    expect(await eastCircuit()).toBe('closed');
  });

  it('a failed probe opens the circuit again for another cooldown', async () => {
    east.always(fail(500));
    for (let i = 0; i < 2; i++) await create(guarded);
    expect(await eastCircuit()).toBe('open');
    await new Promise((resolve) => setTimeout(resolve, 450));
    const { headers } = await create(guarded);
    // The probe went to east, failed, and west answered in the same request.
    expect(headers.get('x-llm-backend-attempts')).toBe('2');
    expect(await eastCircuit()).toBe('open');
    expect(east.requests).toHaveLength(3);
  });
});

describe('a provider that is gone', () => {
  it('a refused connection is one failed attempt; the client never sees it', async () => {
    const gone = new FakeUpstream();
    await gone.start();
    const url = gone.url;
    await gone.stop();
    const config = routedConfig(100);
    config.providers.east.base_url = url;
    const survivor = await startGateway(config);
    try {
      for (let i = 0; i < 3; i++) {
        const { data, headers } = await create(survivor);
        expect(data.choices[0]?.message.content).toBe('from west');
        expect(headers.get('x-llm-backend-deployment')).toBe('west');
      }
    } finally {
      await survivor.close();
    }
  });
});
