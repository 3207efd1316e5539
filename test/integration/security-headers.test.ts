import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sse, textChunks } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway, useUpstreamGateway } from '../helpers/gateway.js';

/** Every response carries the security headers; HSTS only when the request came over HTTPS. */
const { upstream, gateway } = useUpstreamGateway();

function expectSecurityHeaders(response: Response) {
  expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  expect(response.headers.get('x-frame-options')).toBe('DENY');
  expect(response.headers.get('referrer-policy')).toBe('no-referrer');
}

describe('security headers', () => {
  it('are on answers, errors, unknown routes and streams alike', async () => {
    upstream.next((_req, res) => sse(res, textChunks(['hi'])));
    const responses = [
      await fetch(`${gateway.url}/health/live`),
      await fetch(`${gateway.url}/v1/models`),
      await fetch(`${gateway.url}/nowhere`),
      await gateway.fetch('/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-test', stream: true, messages: [] }),
      }),
      await gateway.fetch('/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-test',
          stream: true,
          messages: [{ role: 'user', content: 'Hi' }],
        }),
      }),
    ];
    expect(responses.map((response) => response.status)).toEqual([200, 401, 404, 400, 200]);
    for (const response of responses) {
      expectSecurityHeaders(response);
      expect(response.headers.get('strict-transport-security')).toBeNull();
      await response.text();
    }
  });

  it('leave out HSTS when an untrusted client claims HTTPS', async () => {
    const response = await fetch(`${gateway.url}/health/live`, {
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(response.headers.get('strict-transport-security')).toBeNull();
  });
});

describe('behind a trusted proxy that terminates TLS', () => {
  let proxied: TestGateway;
  beforeAll(async () => {
    proxied = await startGateway(
      { providers: { mock: { type: 'mock' } }, models: [] },
      {
        TRUST_PROXY: '1',
      },
    );
  });
  afterAll(() => proxied.close());

  it('sends HSTS for requests the proxy received over HTTPS only', async () => {
    const https = await fetch(`${proxied.url}/health/live`, {
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(https.headers.get('strict-transport-security')).toBe('max-age=31536000');
    expectSecurityHeaders(https);
    const http = await fetch(`${proxied.url}/health/live`, {
      headers: { 'x-forwarded-proto': 'http' },
    });
    expect(http.headers.get('strict-transport-security')).toBeNull();
  });
});
