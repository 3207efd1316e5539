import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeUpstream, json } from '../helpers/fake-upstream.js';
import { eventually, startGateway, type TestGateway } from '../helpers/gateway.js';

const east = new FakeUpstream();
const gateway = {} as TestGateway;

beforeAll(async () => {
  await east.start();
  east.always((_req, res) => json(res, 200, { object: 'list', data: [] }));
  Object.assign(
    gateway,
    await startGateway({
      providers: {
        east: { type: 'openai-compatible', base_url: east.url },
        west: { type: 'mock' },
      },
      routing: { health_check_interval_ms: 100, circuit_breaker: { cooldown_ms: 60_000 } },
      models: [{ name: 'checked', deployments: [{ provider: 'east' }, { provider: 'west' }] }],
    }),
  );
});
afterAll(async () => {
  await gateway.close?.();
  await east.stop();
});

async function circuitOf(deployment: string): Promise<string | undefined> {
  const ready = (await (await fetch(`${gateway.url}/health/ready`)).json()) as {
    deployments: { deployment: string; circuit: string }[];
  };
  return ready.deployments.find((d) => d.deployment === deployment)?.circuit;
}

describe('active health checks', () => {
  it('probe each deployment, opening a failing one before any client meets it', async () => {
    await eventually(() => expect(east.requests.some((r) => r.url === '/v1/models')).toBe(true));
    expect(await circuitOf('east')).toBe('closed');
    east.always((_req, res) => json(res, 503, { error: { message: 'down' } }));
    await eventually(async () => expect(await circuitOf('east')).toBe('open'));
    const chat = east.requests.filter((r) => r.url === '/v1/chat/completions');
    // Clients are served by west meanwhile, east is not called for them.
    const { response } = await gateway.client.chat.completions
      .create({ model: 'checked', messages: [{ role: 'user', content: 'Hi' }] })
      .withResponse();
    expect(response.headers.get('x-llm-backend-deployment')).toBe('west');
    expect(east.requests.filter((r) => r.url === '/v1/chat/completions')).toEqual(chat);
  });

  it('a good probe closes the circuit without waiting for the cooldown', async () => {
    east.always((_req, res) => json(res, 200, { object: 'list', data: [] }));
    await eventually(async () => expect(await circuitOf('east')).toBe('closed'));
  });
});
