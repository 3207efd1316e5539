import { connect } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { useUpstreamGateway } from '../helpers/gateway.js';

/**
 * Admin actions that take no body, or only fields with defaults, accept a POST without one,
 * as docs/webhooks.md and docs/admin-api.md send them: curl with the JSON content type and
 * no -d, or with no content type at all.
 */
const { gateway } = useUpstreamGateway();

interface Answer {
  status: number;
  body: { error?: { code: string }; object?: string };
}

/** A POST exactly as curl sends it without -d: no body, no Content-Length. */
function curlPost(path: string, headers: Record<string, string>): Promise<Answer> {
  const socket = connect(Number(new URL(gateway.url).port), '127.0.0.1');
  const lines = [`POST ${path} HTTP/1.1`, 'host: 127.0.0.1', 'connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  return new Promise((resolve, reject) => {
    let text = '';
    socket.on('data', (data) => {
      text += data.toString('utf8');
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const status = Number(head.split(' ')[1]);
      const chunked = /transfer-encoding: chunked/i.test(head);
      const raw = rest.join('\r\n\r\n');
      // A chunked body here is one chunk: its size line, the JSON, then the last chunk.
      const json = chunked ? (raw.split('\r\n')[1] ?? '') : raw;
      try {
        resolve({ status, body: JSON.parse(json) as Answer['body'] });
      } catch {
        reject(new Error(`not an HTTP answer with a JSON body: ${text}`));
      }
    });
  });
}

let hooks: string;
let webhook: string;
let delivery: string;
let key: string;

beforeAll(async () => {
  hooks = '/admin/v1/tenants/test/webhooks';
  const created = await gateway.fetch(hooks, {
    method: 'POST',
    headers: { authorization: `Bearer ${gateway.adminKey}`, 'content-type': 'application/json' },
    // A public address written out, so nothing needs DNS; no dispatcher runs here to call it.
    body: JSON.stringify({ url: 'https://1.1.1.1/webhook', event_types: ['quota.*'] }),
  });
  webhook = ((await created.json()) as { id: string }).id;
  delivery = (await gateway.services.webhooks.deliveries.sendTest('test', webhook)).id;
  key = (await gateway.services.keys.create('test', { name: 'rotated', role: 'member' })).key.id;
});

const shapes = [
  { name: 'the JSON content type and no body', contentType: true },
  { name: 'no content type and no body', contentType: false },
];

describe.each(shapes)('a body-less POST with $name', ({ contentType }) => {
  const headers = () => ({
    authorization: `Bearer ${gateway.adminKey}`,
    ...(contentType && { 'content-type': 'application/json' }),
  });

  it('sends a test event', async () => {
    const answer = await curlPost(`${hooks}/${webhook}/test`, headers());
    expect(answer).toMatchObject({ status: 201, body: { object: 'webhook_delivery' } });
  });

  it('redelivers a delivery', async () => {
    const answer = await curlPost(
      `${hooks}/${webhook}/deliveries/${delivery}/redeliver`,
      headers(),
    );
    expect(answer).toMatchObject({ status: 200, body: { object: 'webhook_delivery' } });
  });

  it("rotates a webhook's secret with the default grace", async () => {
    const answer = await curlPost(`${hooks}/${webhook}/rotate-secret`, headers());
    expect(answer).toMatchObject({ status: 200, body: { object: 'webhook' } });
    expect(answer.body).toHaveProperty('secret');
  });

  it('rotates an API key with the default grace', async () => {
    const answer = await curlPost(`/admin/v1/tenants/test/api-keys/${key}/rotate`, headers());
    expect(answer).toMatchObject({ status: 200, body: { object: 'api_key' } });
    expect(answer.body).toHaveProperty('secret');
  });
});

describe('a route that needs a body', () => {
  it('still refuses an empty one', async () => {
    const answer = await curlPost(hooks, {
      authorization: `Bearer ${gateway.adminKey}`,
      'content-type': 'application/json',
    });
    expect(answer).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
  });

  it('still validates a body that was sent to an optional-body route', async () => {
    const response = await gateway.fetch(`${hooks}/${webhook}/rotate-secret`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${gateway.adminKey}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ grace_seconds: -1 }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: { code: 'invalid_request', param: 'grace_seconds' },
    });
  });
});
