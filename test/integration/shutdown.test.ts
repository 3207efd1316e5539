import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { closeGracefully } from '../../src/server.js';
import { FakeUpstream, textChunks } from '../helpers/fake-upstream.js';
import { startGateway, upstreamConfig } from '../helpers/gateway.js';

const messages = [{ role: 'user' as const, content: 'Hi' }];

describe('graceful shutdown', () => {
  it('drains: in-flight streams finish, later requests get an OpenAI-shaped 503', async () => {
    const upstream = await new FakeUpstream().start();
    const config = upstreamConfig(upstream.url);
    config.providers.mock = {
      type: 'mock',
      latency_ms: 0,
      tokens_per_second: 50,
    } as typeof config.providers.mock;
    const gateway = await startGateway(config);
    try {
      const socket = connect({ host: '127.0.0.1', port: Number(new URL(gateway.url).port) });
      const body = JSON.stringify({ model: 'org/model-with-slash', stream: true, messages });
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer ${gateway.apiKey}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      let received = '';
      const firstChunk = new Promise<void>((resolve) => {
        socket.on('data', (data: Buffer) => {
          received += data.toString('utf8');
          if (received.includes('data: {')) resolve();
        });
      });
      const ended = once(socket, 'close');
      await firstChunk;
      const closing = closeGracefully(gateway.app, 10_000);
      // Fastify stops listening only after its preClose hooks, so the gateway is draining now.
      while (gateway.app.server.listening) await new Promise((resolve) => setImmediate(resolve));
      // A request pipelined on the open connection while the stream is still running.
      socket.write('GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n');
      await ended;
      await closing;

      const [stream, refused] = received.split(/(?=HTTP\/1\.1 503)/);
      expect(stream).toMatch(/^HTTP\/1\.1 200/);
      expect(stream).toContain('"finish_reason":"stop"');
      expect(stream).toContain('data: [DONE]');
      expect(refused).toMatch(/^HTTP\/1\.1 503/);
      expect(refused).toMatch(/x-request-id: req_/);
      expect(refused).toMatch(/connection: close/i);
      expect(refused).toContain('"code":"service_unavailable"');
    } finally {
      await gateway.close();
      await upstream.stop();
    }
  });

  it('cuts what is left after the grace period and aborts those upstream calls', async () => {
    const upstream = await new FakeUpstream().start();
    upstream.next(async (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify(textChunks(['never ending'])[1])}\n\n`);
      await req.aborted;
    });
    const gateway = await startGateway(upstreamConfig(upstream.url));
    try {
      const stream = await gateway.client.chat.completions.create({
        model: 'gpt-test',
        stream: true,
        messages,
      });
      const iterator = stream[Symbol.asyncIterator]();
      await iterator.next();
      await closeGracefully(gateway.app, 100);
      await upstream.requests[0]?.aborted;
      expect(upstream.requests[0]?.wasAborted()).toBe(true);
      await expect(iterator.next()).rejects.toThrow();
    } finally {
      await gateway.close();
      await upstream.stop();
    }
  });
});
