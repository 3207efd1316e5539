import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { sse, textChunks } from '../helpers/fake-upstream.js';
import { useUpstreamGateway } from '../helpers/gateway.js';

/**
 * A client has REQUEST_BODY_TIMEOUT_MS to send its whole request and REQUEST_HEADERS_TIMEOUT_MS
 * for the headers; a trickling one gets a 408 and its connection closed. A long streamed
 * response is not cut: the timeout is on receiving the request only.
 */
const { upstream, gateway } = useUpstreamGateway({
  env: { REQUEST_BODY_TIMEOUT_MS: '1000', REQUEST_HEADERS_TIMEOUT_MS: '1000' },
});

/**
 * Opens a connection, writes `head` at once, then `trickle` one byte every 200 ms until the
 * gateway closes the connection; resolves with everything the gateway sent.
 */
function trickle(head: string, slow: string): Promise<string> {
  const socket: Socket = connect(Number(new URL(gateway.url).port), '127.0.0.1');
  let received = '';
  socket.on('data', (data) => {
    received += data.toString('utf8');
  });
  socket.on('error', () => {});
  socket.write(head);
  let sent = 0;
  const timer = setInterval(() => {
    if (sent < slow.length && !socket.destroyed) socket.write(slow.charAt(sent++));
  }, 200);
  return new Promise((resolve) =>
    socket.on('close', () => {
      clearInterval(timer);
      resolve(received);
    }),
  );
}

const body = JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'Hi' }] });
const head = (authorization: string) =>
  [
    'POST /v1/chat/completions HTTP/1.1',
    'host: 127.0.0.1',
    authorization,
    'content-type: application/json',
    `content-length: ${body.length}`,
    '',
    '',
  ].join('\r\n');

function jsonOf(answer: string): unknown {
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
}

describe('a request sent too slowly', () => {
  it('gets a 408 request_timeout and its connection closed when the body trickles', async () => {
    const answer = await trickle(head(`authorization: Bearer ${gateway.apiKey}`), body);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(answer).toMatch(/\r\nx-request-id: \S+\r\n/i);
    expect(jsonOf(answer)).toEqual({
      error: {
        message: 'The request was not received in time; the connection is closed.',
        type: 'invalid_request_error',
        param: null,
        code: 'request_timeout',
      },
    });
    expect(upstream.requests).toHaveLength(0);
  });

  it('gets a 408 and its connection closed when the headers trickle', async () => {
    const answer = await trickle('POST /v1/chat/completions HTTP/1.1\r\n', 'x-slow: '.repeat(100));
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(jsonOf(answer)).toMatchObject({ error: { code: 'request_timeout' } });
  });

  it('gets a 408 after an earlier request answered on the same connection', async () => {
    const first = 'GET /health/live HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n';
    const answer = await trickle(`${first}GET /health/live HTTP/1.1\r\n`, 'x-slow: '.repeat(100));
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toMatch(/\r\n\r\n\{"status":"ok"\}HTTP\/1\.1 408 /);
  });

  it('already refused (no key) has its connection closed rather than held', async () => {
    const answer = await trickle(head('x-no-key: 1'), body);
    // The 401 went out before the body was read; nothing may follow it on that connection.
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer.match(/HTTP\/1\.1 /g)).toHaveLength(1);
  });
});

describe('a streamed response', () => {
  it('runs longer than the request timeout without being cut', async () => {
    // Six events 600 ms apart: past the timeout and Node's next check of it.
    upstream.next((_req, res) => sse(res, textChunks(['a', 'b', 'c', 'd']), { gapMs: 600 }));
    const stream = await gateway.client.chat.completions.create({
      model: 'gpt-test',
      stream: true,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    let text = '';
    for await (const part of stream) text += part.choices[0]?.delta.content ?? '';
    expect(text).toBe('abcd');
  });
});
