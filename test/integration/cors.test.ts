import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway, useUpstreamGateway } from '../helpers/gateway.js';

/**
 * CORS is off unless CORS_ORIGINS lists origins: then their preflights are answered and
 * their responses carry the CORS headers; any other origin sees the gateway as with CORS off.
 */
const APP = 'https://app.example.com';
const { gateway: plain } = useUpstreamGateway();

const preflight = (url: string, origin: string, headers = 'authorization, content-type') =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': headers,
    },
  });

const corsHeaders = (response: Response) =>
  [...response.headers.keys()].filter((name) => name.startsWith('access-control-'));

describe('with CORS off (the default)', () => {
  it('answers a preflight as any unknown route, without CORS headers', async () => {
    const response = await preflight(plain.url, APP);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 'not_found' } });
    expect(corsHeaders(response)).toEqual([]);
  });

  it('adds no CORS headers to a request with an Origin', async () => {
    const response = await plain.fetch('/v1/models', { headers: { origin: APP } });
    expect(response.status).toBe(200);
    expect(corsHeaders(response)).toEqual([]);
  });
});

describe('with CORS_ORIGINS listing origins', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway(
      { providers: { mock: { type: 'mock' } }, models: [] },
      {
        CORS_ORIGINS: `${APP}, http://localhost:5173`,
      },
    );
  });
  afterAll(() => gateway.close());

  it('answers the preflight of a listed origin', async () => {
    const response = await preflight(gateway.url, APP);
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP);
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
    expect(response.headers.get('access-control-allow-headers')).toBe(
      'authorization, content-type',
    );
    expect(response.headers.get('access-control-max-age')).toBe('7200');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    expect(response.headers.get('vary')).toMatch(/origin/i);
  });

  it('allows the headers an SDK asks for', async () => {
    const asked = 'authorization, content-type, x-stainless-os, openai-organization';
    const response = await preflight(gateway.url, 'http://localhost:5173', asked);
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-headers')).toBe(asked);
  });

  it('lets a listed origin read answers and errors, with their headers', async () => {
    const ok = await gateway.fetch('/v1/models', { headers: { origin: APP } });
    const refused = await fetch(`${gateway.url}/v1/models`, { headers: { origin: APP } });
    expect([ok.status, refused.status]).toEqual([200, 401]);
    for (const response of [ok, refused]) {
      expect(response.headers.get('access-control-allow-origin')).toBe(APP);
      expect(response.headers.get('access-control-expose-headers')).toContain('x-request-id');
    }
  });

  it('treats an origin not listed as with CORS off', async () => {
    const evil = 'https://app.example.com.evil.test';
    const response = await preflight(gateway.url, evil);
    expect(response.status).toBe(404);
    expect(corsHeaders(response)).toEqual([]);
    const answer = await gateway.fetch('/v1/models', { headers: { origin: evil } });
    expect(corsHeaders(answer)).toEqual([]);
    expect(answer.headers.get('vary')).toMatch(/origin/i);
  });
});

describe('with CORS_ORIGINS=*', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway(
      { providers: { mock: { type: 'mock' } }, models: [] },
      {
        CORS_ORIGINS: '*',
      },
    );
  });
  afterAll(() => gateway.close());

  it('allows any origin, without echoing it', async () => {
    const response = await preflight(gateway.url, 'https://anywhere.test');
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    const answer = await gateway.fetch('/v1/models', { headers: { origin: 'https://x.test' } });
    expect(answer.headers.get('access-control-allow-origin')).toBe('*');
  });
});
