import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCertificate, makeTestCa, type TestCa } from '../helpers/certificates.js';
import { startGateway, type TestGateway, upstreamConfig } from '../helpers/gateway.js';
import { SESSION_COOKIE } from '../helpers/panel.js';

/** The built web app a gateway serves at /ui/: a page, a hashed asset, nothing inline. */
function builtApp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'llm-backend-ui-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><html><head><script type="module" src="/ui/assets/app-3f2a.js"></script></head><body><div id="root"></div></body></html>',
  );
  writeFileSync(join(dir, 'assets', 'app-3f2a.js'), 'console.log("panel");');
  return dir;
}

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

function expectPanelHeaders(response: Response) {
  expect(response.headers.get('content-security-policy')).toBe(CSP);
  expect(response.headers.get('x-frame-options')).toBe('DENY');
  expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  expect(response.headers.get('referrer-policy')).toBe('no-referrer');
  expect(response.headers.get('cross-origin-opener-policy')).toBe('same-origin');
}

describe('the admin panel at /ui', () => {
  let gateway: TestGateway;
  let dir: string;

  beforeAll(async () => {
    dir = builtApp();
    gateway = await startGateway(upstreamConfig('http://127.0.0.1:9'), { UI_DIR: dir });
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 180_000);

  const get = (path: string) => fetch(`${gateway.url}${path}`, { redirect: 'manual' });

  it('redirects /ui to /ui/ and serves index.html there, never cached', async () => {
    const bare = await get('/ui');
    expect([bare.status, bare.headers.get('location')]).toEqual([302, '/ui/']);
    const page = await get('/ui/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(await page.text()).toContain('<div id="root">');
    expectPanelHeaders(page);
  });

  it('serves hashed assets as immutable, and index.html for client-side routes', async () => {
    const asset = await get('/ui/assets/app-3f2a.js');
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await asset.text()).toContain('panel');
    expectPanelHeaders(asset);
    for (const route of ['/ui/tenants/acme/keys', '/ui/usage?from=2026-01-01', '/ui/missing.js']) {
      const page = await get(route);
      expect([page.status, page.headers.get('cache-control')], route).toEqual([200, 'no-store']);
      expect(await page.text()).toContain('<div id="root">');
      expectPanelHeaders(page);
    }
  });

  it('sends nothing from outside its directory', async () => {
    for (const path of [
      '/ui/../package.json',
      '/ui/%2e%2e/package.json',
      '/ui/..%2fpackage.json',
    ]) {
      const response = await get(path);
      expect(await response.text(), path).not.toContain('"name": "llm-backend"');
    }
  });

  it('answers its unknown API paths with a JSON 404, with the same headers', async () => {
    const response = await get('/ui/api/nothing-here');
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('not_found');
    expectPanelHeaders(response);
    const config = await get('/ui/api/oidc/config');
    expect(await config.json()).toEqual({ providers: [] });
    expectPanelHeaders(config);
  });

  it('says how to build it when index.html is missing', async () => {
    renameSync(join(dir, 'index.html'), join(dir, 'index.html.away'));
    try {
      for (const path of ['/ui/', '/ui/tenants']) {
        const response = await get(path);
        expect(response.status).toBe(404);
        const body = (await response.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe('ui_not_built');
        expect(body.error.message).toContain('npm run build');
        expectPanelHeaders(response);
      }
    } finally {
      renameSync(join(dir, 'index.html.away'), join(dir, 'index.html'));
    }
  });
});

describe('the session cookie over TLS', () => {
  let gateway: TestGateway;
  let ca: TestCa;
  let agent: Agent;

  beforeAll(async () => {
    ca = makeTestCa();
    const certificate = issueCertificate(ca, 'panel');
    gateway = await startGateway(upstreamConfig('http://127.0.0.1:9'), {
      TLS_CERT_FILE: certificate.certFile,
      TLS_KEY_FILE: certificate.keyFile,
    });
    agent = new Agent({ connect: { ca: ca.pem } });
  }, 60_000);
  afterAll(async () => {
    await agent?.close();
    await gateway?.close();
  }, 180_000);

  it('is Secure, HttpOnly and SameSite=Strict', async () => {
    const address = gateway.app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const response = await request(`https://localhost:${port}/ui/api/session`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api_key: gateway.apiKey }),
    });
    expect(response.statusCode).toBe(200);
    await response.body.json();
    const setCookie = [response.headers['set-cookie'] ?? []].flat();
    const line = setCookie.find((cookie) => cookie.startsWith(`${SESSION_COOKIE}=`)) ?? '';
    const attributes = line
      .split(';')
      .slice(1)
      .map((part) => part.trim().toLowerCase())
      .sort();
    expect(attributes).toEqual(['httponly', 'path=/', 'samesite=strict', 'secure']);
  });
});
