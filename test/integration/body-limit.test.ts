import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.js';
import { chatCompletion, json } from '../helpers/fake-upstream.js';
import { useUpstreamGateway } from '../helpers/gateway.js';

/**
 * A body over BODY_LIMIT_BYTES is answered 413 in a way clients can read: the gateway reads
 * the rest of the body before it answers and closes, instead of resetting a connection the
 * client is still writing to.
 */
const { upstream, gateway } = useUpstreamGateway({ env: { BODY_LIMIT_BYTES: String(64 * 1024) } });
upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));

const tooLarge = 'x'.repeat(4 * 1024 * 1024);

/**
 * The SDK runs in a process of its own, as a real client does: within the test's own event
 * loop it reads the early answer before the reset arrives, and the defect never shows.
 */
const sdkScript = `
import OpenAI from 'openai';
const client = new OpenAI({ apiKey: process.env.KEY, baseURL: process.env.BASE_URL, maxRetries: 0 });
const content = 'x'.repeat(4 * 1024 * 1024);
const outcomes = [];
for (let attempt = 0; attempt < 10; attempt++) {
  try {
    await client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content }] });
    outcomes.push({ ok: true });
  } catch (error) {
    outcomes.push({ name: error.constructor.name, status: error.status ?? null, code: error.code ?? null });
  }
}
console.log(JSON.stringify(outcomes));
`;

function runSdk(): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', sdkScript],
      {
        // Where the openai package resolves from.
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        env: { ...process.env, KEY: gateway.apiKey, BASE_URL: `${gateway.url}/v1` },
      },
      (error, stdout, stderr) =>
        error ? reject(new Error(stderr)) : resolve(JSON.parse(stdout) as unknown[]),
    );
  });
}

describe('a body over the limit', () => {
  it('reaches the official SDK as a 413 request_too_large, 10 times out of 10', async () => {
    const outcomes = await runSdk();
    expect(outcomes).toEqual(
      Array.from({ length: 10 }, () => ({
        name: 'APIError',
        status: 413,
        code: 'request_too_large',
      })),
    );
    expect(upstream.requests).toHaveLength(0);
  });

  it('reaches the SDK in this process as a 413 too', async () => {
    const error = await apiError(
      gateway.client.chat.completions.create({
        model: 'gpt-test',
        messages: [{ role: 'user', content: tooLarge }],
      }),
    );
    expect(error).not.toBeInstanceOf(OpenAI.APIConnectionError);
    expect([error.status, error.code]).toEqual([413, 'request_too_large']);
  });

  it('is answered 413 when sent chunked, without a declared length', async () => {
    const chunks = [JSON.stringify({ model: 'gpt-test', messages: [] }).slice(0, -1), tooLarge];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    const response = await gateway.fetch('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { code: 'request_too_large' } });
  });

  it('closes the connection without reading a declared length past what it drains', async () => {
    const socket = connect(Number(new URL(gateway.url).port), '127.0.0.1');
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (data) => {
        text += data.toString('utf8');
      });
      socket.on('close', () => resolve(text));
      socket.on('error', () => {});
    });
    socket.write(
      [
        'POST /v1/chat/completions HTTP/1.1',
        'host: 127.0.0.1',
        `authorization: Bearer ${gateway.apiKey}`,
        'content-type: application/json',
        `content-length: ${1024 ** 3}`,
        '',
        '{"model":',
      ].join('\r\n'),
    );
    // Answered and closed at once: a gigabyte is not worth reading to say no.
    expect(await answer).toMatch(/^HTTP\/1\.1 413 /);
  });
});
