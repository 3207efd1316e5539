import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, writeFileSync } from 'node:fs';
import { constants } from 'node:http2';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import OpenAI, { type ClientOptions } from 'openai';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  issueCertificate,
  makeTestCa,
  type TestCa,
  type TestCertificate,
} from '../helpers/certificates.js';
import {
  chatCompletion,
  chunk,
  FakeUpstream,
  json,
  newGate,
  type Script,
  sse,
  textChunks,
} from '../helpers/fake-upstream.js';
import { eventually, upstreamConfig, writeConfigFile } from '../helpers/gateway.js';
import { type ChildRole, startRole } from '../helpers/gateway-process.js';
import { http2Request, openHttp2 } from '../helpers/http2-client.js';
import { servicesOn, TEST_MASTER_KEY, type TestServices } from '../helpers/tenant-services.js';

const CHAT = { model: 'gpt-test', messages: [{ role: 'user' as const, content: 'a b c' }] };

/** The certificate a server at `url` presents to a new HTTP/1.1 connection. */
async function http1Fingerprint(url: string, ca: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = tlsConnect({
    host: hostname,
    port: Number(port),
    ca,
    ALPNProtocols: ['http/1.1'],
  });
  await once(socket, 'secureConnect');
  const fingerprint = socket.getPeerCertificate().fingerprint256;
  socket.destroy();
  return fingerprint;
}

/** A stream that sends its first piece, then waits for the gate before the rest. */
function heldStream(opened: Promise<void>): Script {
  return async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const [first, ...rest] = textChunks(['before', 'after']);
    res.write(`data: ${JSON.stringify(first)}\n\n`);
    res.write(`data: ${JSON.stringify(rest.shift())}\n\n`);
    await opened;
    for (const event of rest) res.write(`data: ${JSON.stringify(event)}\n\n`);
    res.end('data: [DONE]\n\n');
  };
}

describe('serve over HTTPS', () => {
  const upstream = new FakeUpstream();
  const children = new Set<ChildProcess>();
  let services: TestServices;
  let ca: TestCa;
  let first: TestCertificate;
  let second: TestCertificate;
  let env: Record<string, string>;
  let gateway: ChildRole & { url: string };
  let secret: string;
  let agent: Agent;
  /** The files TLS_CERT_FILE and TLS_KEY_FILE name; a renewal overwrites them in place. */
  let live: { certFile: string; keyFile: string };

  const chatHeaders = (path = '/v1/chat/completions') => ({
    ':method': 'POST',
    ':path': path,
    authorization: `Bearer ${secret}`,
    'content-type': 'application/json',
  });

  beforeAll(async () => {
    await upstream.start();
    upstream.always((req, res) => {
      const body = req.body as { stream?: boolean };
      if (body.stream) return sse(res, textChunks(['a', 'b', 'c'], { usage: true }));
      json(res, 200, chatCompletion('over tls'));
    });
    ca = makeTestCa();
    first = issueCertificate(ca, 'first');
    second = issueCertificate(ca, 'second');
    live = { certFile: join(ca.dir, 'live.pem'), keyFile: join(ca.dir, 'live.key') };
    copyFileSync(first.certFile, live.certFile);
    copyFileSync(first.keyFile, live.keyFile);
    services = await servicesOn('postgres');
    await services.tenants.create({ slug: 'test', name: 'Test' });
    secret = (await services.keys.create('test', { name: 'test', role: 'owner' })).secret;
    env = {
      DATABASE_URL: services.backend.url ?? '',
      MASTER_KEY: TEST_MASTER_KEY,
      CONFIG_FILE: writeConfigFile(upstreamConfig(upstream.url)),
      TEST_UPSTREAM_KEY: 'unused',
      PORT: '0',
      OPS_PORT: '0',
      TLS_CERT_FILE: live.certFile,
      TLS_KEY_FILE: live.keyFile,
      REQUEST_BODY_TIMEOUT_MS: '2000',
      REQUEST_HEADERS_TIMEOUT_MS: '2000',
      SHUTDOWN_GRACE_MS: '15000',
    };
    gateway = await startRole('serve', env, children);
    agent = new Agent({ connect: { ca: ca.pem } });
  }, 60_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await agent?.close();
    await services?.close();
    await upstream.stop();
  });

  function sdk(): OpenAI {
    return new OpenAI({
      apiKey: secret,
      baseURL: `${gateway.url}/v1`,
      maxRetries: 0,
      // The SDK's own fetch, with an undici Agent that trusts the test CA. The cast: the SDK's
      // types name the undici bundled with Node, not the npm package's identical Agent.
      fetchOptions: { dispatcher: agent } as unknown as ClientOptions['fetchOptions'],
    });
  }

  it('listens on https and answers the openai SDK over HTTP/1.1, whole and streamed', async () => {
    expect(gateway.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const client = sdk();
    const { data, response } = await client.chat.completions.create(CHAT).withResponse();
    expect(data.choices[0]?.message.content).toBe('over tls');
    expect(response.headers.get('strict-transport-security')).toBe('max-age=31536000');
    const stream = await client.chat.completions.create({ ...CHAT, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('abc');
  });

  it('speaks HTTP/2: a stream, a JSON body, a bad body answered in OpenAI shape', async () => {
    const { session } = await openHttp2(gateway.url, ca.pem);
    try {
      const stream = await http2Request(
        session,
        chatHeaders(),
        JSON.stringify({ ...CHAT, stream: true }),
      );
      expect(stream.status).toBe(200);
      expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(stream.headers['x-content-type-options']).toBe('nosniff');
      expect(stream.headers['x-request-id']).toMatch(/^req_/);
      const events = (await stream.body).split('\n\n').filter((event) => event !== '');
      expect(events.at(-1)).toBe('data: [DONE]');
      const whole = await http2Request(session, chatHeaders(), JSON.stringify(CHAT));
      expect(whole.status).toBe(200);
      expect(JSON.parse(await whole.body).choices[0].message.content).toBe('over tls');
      const bad = await http2Request(session, chatHeaders(), '{"model": ');
      expect(bad.status).toBe(400);
      expect(JSON.parse(await bad.body).error.type).toBe('invalid_request_error');
    } finally {
      session.close();
    }
  });

  it('gives an HTTP/2 body that never ends a 408, and goes on serving the session', async () => {
    const { session } = await openHttp2(gateway.url, ca.pem);
    try {
      const stream = session.request({ ...chatHeaders(), 'content-length': '100' });
      stream.write('{"model": "gpt-test",');
      const [headers] = (await once(stream, 'response')) as [Record<string, string>];
      expect(headers[':status']).toBe(408);
      let body = '';
      stream.on('data', (data: Buffer) => {
        body += data.toString();
      });
      await Promise.race([once(stream, 'end'), once(stream, 'close')]);
      expect(JSON.parse(body).error.code).toBe('request_timeout');
      const next = await http2Request(session, chatHeaders(), JSON.stringify(CHAT));
      expect(next.status).toBe(200);
    } finally {
      session.close();
    }
  });

  it('gives an HTTP/1.1 client over TLS that trickles its headers a 408', async () => {
    const { hostname, port } = new URL(gateway.url);
    const socket = tlsConnect({
      host: hostname,
      port: Number(port),
      ca: ca.pem,
      ALPNProtocols: ['http/1.1'],
    });
    await once(socket, 'secureConnect');
    let received = '';
    socket.on('data', (data: Buffer) => {
      received += data.toString();
    });
    const closed = once(socket, 'close');
    socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n');
    await closed;
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(received).toContain('"code":"request_timeout"');
  });

  it('keeps the operations port on plain HTTP', async () => {
    const line = /"port":(\d+),"msg":"operations endpoints listening"/.exec(gateway.output());
    expect(line).not.toBeNull();
    const response = await fetch(`http://127.0.0.1:${line?.[1]}/metrics`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('# HELP');
  });

  it('takes a new certificate on SIGHUP; open streams run to their end on the old one', async () => {
    const gate = newGate();
    upstream.next(heldStream(gate.opened), heldStream(gate.opened));
    const h2 = await openHttp2(gateway.url, ca.pem);
    expect(h2.fingerprint).toBe(first.fingerprint);
    const overHttp2 = await http2Request(
      h2.session,
      chatHeaders(),
      JSON.stringify({ ...CHAT, stream: true }),
    );
    await overHttp2.seen('before');
    const overHttp1 = await sdk().chat.completions.create({ ...CHAT, stream: true });
    const http1Text = (async () => {
      let text = '';
      for await (const chunk of overHttp1) text += chunk.choices[0]?.delta.content ?? '';
      return text;
    })();

    copyFileSync(second.certFile, live.certFile);
    copyFileSync(second.keyFile, live.keyFile);
    gateway.child.kill('SIGHUP');
    await eventually(() => expect(gateway.output()).toContain('TLS certificate reloaded'));
    const renewed = await openHttp2(gateway.url, ca.pem);
    renewed.session.close();
    expect(renewed.fingerprint).toBe(second.fingerprint);
    expect(await http1Fingerprint(gateway.url, ca.pem)).toBe(second.fingerprint);

    gate.open();
    const events = (await overHttp2.body).split('\n\n').filter((event) => event !== '');
    expect(events.join('\n')).toContain('after');
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(await http1Text).toBe('beforeafter');
    h2.session.close();
  });

  it('keeps the certificate in use when the renewed files are bad at SIGHUP', async () => {
    const before = await http1Fingerprint(gateway.url, ca.pem);
    writeFileSync(live.certFile, 'not a certificate\n');
    gateway.child.kill('SIGHUP');
    await eventually(() =>
      expect(gateway.output()).toContain(
        'TLS certificate not reloaded; the certificate in use stays',
      ),
    );
    expect(await http1Fingerprint(gateway.url, ca.pem)).toBe(before);
    const { data } = await sdk().chat.completions.create(CHAT).withResponse();
    expect(data.choices[0]?.message.content).toBe('over tls');
    copyFileSync(second.certFile, live.certFile);
  });

  it('aborts the upstream request when an HTTP/2 client resets its stream', async () => {
    upstream.next(async (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify(textChunks(['before'])[0])}\n\n`);
      await req.aborted;
    });
    const { session } = await openHttp2(gateway.url, ca.pem);
    try {
      const answer = await http2Request(
        session,
        { ...chatHeaders(), 'x-request-id': 'req-h2-reset' },
        JSON.stringify({ ...CHAT, stream: true }),
      );
      await answer.seen('assistant');
      const call = upstream.requests.at(-1);
      expect(call?.wasAborted()).toBe(false);
      answer.stream.close(constants.NGHTTP2_CANCEL);
      await call?.aborted;
      expect(call?.wasAborted()).toBe(true);
      // Logged as the client's doing, as a closed HTTP/1.1 connection is.
      const line = await eventually(() => {
        const found = gateway
          .output()
          .split('\n')
          .find(
            (text) =>
              text.includes('"requestId":"req-h2-reset"') && text.includes('request completed'),
          );
        if (found === undefined) throw new Error('no log line yet');
        return JSON.parse(found) as { clientAborted: boolean };
      });
      expect(line.clientAborted).toBe(true);
    } finally {
      session.close();
    }
  });

  it('aborts a whole answer’s upstream call when an HTTP/2 client resets, logging no failure', async () => {
    upstream.next(async (req) => {
      await req.aborted;
    });
    const before = upstream.requests.length;
    const { session } = await openHttp2(gateway.url, ca.pem);
    try {
      const stream = session.request({ ...chatHeaders(), 'x-request-id': 'req-h2-whole-reset' });
      stream.on('error', () => {});
      stream.end(JSON.stringify(CHAT));
      const call = await eventually(() => {
        const found = upstream.requests[before];
        if (found === undefined) throw new Error('not upstream yet');
        return found;
      });
      stream.close(constants.NGHTTP2_CANCEL);
      await call.aborted;
      const line = await eventually(() => {
        const found = gateway
          .output()
          .split('\n')
          .find(
            (text) =>
              text.includes('"requestId":"req-h2-whole-reset"') &&
              text.includes('request completed'),
          );
        if (found === undefined) throw new Error('no log line yet');
        return JSON.parse(found) as { clientAborted: boolean };
      });
      expect(line.clientAborted).toBe(true);
      expect(gateway.output()).not.toContain('"msg":"request failed"');
      const next = await http2Request(session, chatHeaders(), JSON.stringify(CHAT));
      expect(next.status).toBe(200);
    } finally {
      session.close();
    }
  });

  it('holds the upstream back while an HTTP/2 client does not read (flow control)', async () => {
    const events = 4000;
    const piece = 'x'.repeat(4096);
    let written = 0;
    const stalled = newGate();
    upstream.next(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < events; i++) {
        written++;
        if (!res.write(`data: ${JSON.stringify(chunk({ content: piece }))}\n\n`)) {
          stalled.open();
          await once(res, 'drain');
        }
      }
      res.end('data: [DONE]\n\n');
    });
    const { session } = await openHttp2(gateway.url, ca.pem);
    try {
      // No 'data' listener: the client stream stays paused and grants no more window.
      const stream = session.request(chatHeaders(), { endStream: false });
      stream.end(JSON.stringify({ ...CHAT, stream: true }));
      const [headers] = (await once(stream, 'response')) as [Record<string, string>];
      expect(headers[':status']).toBe(200);
      await stalled.opened;
      let previous = -1;
      for (let polls = 0; written !== previous && polls < 100; polls++) {
        previous = written;
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      expect(written).toBe(previous);
      expect(written).toBeLessThan(events / 2);
      let text = '';
      stream.setEncoding('utf8');
      for await (const part of stream) text += part;
      expect(text.split('\n\n').filter(Boolean)).toHaveLength(events + 1);
      expect(written).toBe(events);
    } finally {
      session.close();
    }
  });

  it('drains on SIGTERM: open streams, HTTP/2 and HTTP/1.1, finish, then the process exits 0', async () => {
    const gate = newGate();
    upstream.next(heldStream(gate.opened), heldStream(gate.opened));
    const { session } = await openHttp2(gateway.url, ca.pem);
    const stream = await http2Request(
      session,
      chatHeaders(),
      JSON.stringify({ ...CHAT, stream: true }),
    );
    await stream.seen('before');
    const client = sdk();
    const overHttp1 = await client.chat.completions.create({ ...CHAT, stream: true });
    const http1Text = (async () => {
      let text = '';
      for await (const part of overHttp1) text += part.choices[0]?.delta.content ?? '';
      return text;
    })();
    // An idle HTTP/1.1 keep-alive connection too, which the drain must close, not wait for.
    await client.chat.completions.create(CHAT);
    const exited = once(gateway.child, 'exit');
    gateway.child.kill('SIGTERM');
    await eventually(() => expect(gateway.output()).toContain('shutting down'));
    gate.open();
    expect(await stream.body).toContain('data: [DONE]');
    expect(await http1Text).toBe('beforeafter');
    const [code] = await exited;
    expect(code).toBe(0);
    // It closed once the stream was over, not when the grace period ran out.
    expect(gateway.output()).not.toContain('shutdown grace period over');
    expect(gateway.output()).not.toContain('Reply was already sent');
    // No Connection header reached an HTTP/2 response (Node warns when one is dropped).
    expect(gateway.output()).not.toContain('connection header is not valid');
  });

  it('cuts the streams left, HTTP/2 and HTTP/1.1, when the grace period is over', async () => {
    const short = await startRole('serve', { ...env, SHUTDOWN_GRACE_MS: '300' }, children);
    const aborted: Promise<void>[] = [];
    const never = new Promise<void>(() => {});
    upstream.next(heldStream(never), heldStream(never));
    const { session } = await openHttp2(short.url, ca.pem);
    const overHttp2 = await http2Request(
      session,
      chatHeaders(),
      JSON.stringify({ ...CHAT, stream: true }),
    );
    await overHttp2.seen('before');
    const overHttp1 = await request(`${short.url}/v1/chat/completions`, {
      dispatcher: agent,
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...CHAT, stream: true }),
    });
    expect(overHttp1.statusCode).toBe(200);
    const http1Read = overHttp1.body.text();
    http1Read.catch(() => {});
    for (const call of upstream.requests.slice(-2)) aborted.push(call.aborted);
    const exited = once(short.child, 'exit');
    short.child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(short.output()).toContain('shutdown grace period over');
    // Both clients lost their streams before the end, and both upstream calls were aborted.
    await expect(http1Read).rejects.toThrow(/closed|terminated/);
    expect(await overHttp2.body.catch(() => 'cut')).not.toContain('data: [DONE]');
    await Promise.all(aborted);
    session.destroy();
  });
});
