import { once } from 'node:events';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { chunk } from '../helpers/fake-upstream.js';
import { useUpstreamGateway } from '../helpers/gateway.js';

const { upstream, gateway } = useUpstreamGateway({ provider: { timeouts: { idle_ms: 30_000 } } });

const EVENTS = 8000;
const PIECE = 'x'.repeat(4096);

describe('streaming backpressure', () => {
  it('a client that stops reading stalls the upstream instead of filling gateway memory', async () => {
    let written = 0;
    let blocked = false;
    let unblock: () => void = () => {};
    const stalled = new Promise<void>((resolve) => {
      unblock = resolve;
    });
    upstream.next(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < EVENTS; i++) {
        const ok = res.write(`data: ${JSON.stringify(chunk({ content: PIECE }))}\n\n`);
        written++;
        if (!ok) {
          blocked = true;
          unblock();
          await once(res, 'drain');
        }
      }
      res.end('data: [DONE]\n\n');
    });

    const response = await request(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway.apiKey}` },
      body: JSON.stringify({
        model: 'gpt-test',
        stream: true,
        messages: [{ role: 'user', content: 'go' }],
      }),
    });
    expect(response.statusCode).toBe(200);
    // The client reads nothing. Socket buffers on each side fill (a few MB), then the
    // upstream must stop, long before it has written the ~33 MB of the whole answer.
    await stalled;
    expect(blocked).toBe(true);
    let previous = -1;
    for (let polls = 0; written !== previous && polls < 100; polls++) {
      previous = written;
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect(written).toBe(previous);
    expect(written).toBeLessThan(EVENTS / 2);

    const parts: string[] = [];
    for await (const part of response.body) parts.push((part as Buffer).toString('utf8'));
    const events = parts.join('').split('\n\n').filter(Boolean);
    expect(events).toHaveLength(EVENTS + 1);
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(written).toBe(EVENTS);
  });
});
