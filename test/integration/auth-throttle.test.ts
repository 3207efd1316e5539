import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.js';
import { useUpstreamGateway } from '../helpers/gateway.js';

const { gateway } = useUpstreamGateway({ env: { AUTH_FAILURES_PER_MINUTE: '3' } });

const sdk = (apiKey: string) => new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });

describe('repeated failures from one client', () => {
  it('are refused with 429 and retry-after, without lookups, while checked keys keep working', async () => {
    // Warm the known key first: from then on it is served from memory.
    await sdk(gateway.apiKey).models.list();
    const fresh = await gateway.services.keys.create('test', { name: 'fresh', role: 'member' });
    const made = () => `llmb_${'x'.repeat(32)}${Math.random().toString(36).slice(2, 8)}`;
    for (let i = 0; i < 3; i++) {
      expect((await apiError(sdk(made()).models.list())).status).toBe(401);
    }
    const throttled = await gateway.fetch('/v1/models', {
      headers: { authorization: `Bearer ${made()}` },
    });
    expect(throttled.status).toBe(429);
    expect(await throttled.json()).toMatchObject({
      error: { code: 'auth_rate_limited', type: 'requests' },
    });
    const retryAfter = Number(throttled.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(Number(throttled.headers.get('retry-after-ms'))).toBeLessThanOrEqual(60_000);

    // The warm key passes; a valid key never looked up waits like any other, since telling
    // it apart would take the lookup the throttle is there to spare.
    await expect(sdk(gateway.apiKey).models.list()).resolves.toBeDefined();
    const waiting = await apiError(sdk(fresh.secret).models.list());
    expect([waiting.status, waiting.code]).toEqual([429, 'auth_rate_limited']);
    // The admin API shares the throttle.
    const admin = await gateway.fetch('/admin/v1/tenants', {
      headers: { authorization: 'Bearer nonsense' },
    });
    expect(admin.status).toBe(429);
  });
});

describe('behind a trusted proxy', () => {
  const { gateway: proxied } = useUpstreamGateway({
    env: { AUTH_FAILURES_PER_MINUTE: '2', TRUST_PROXY: '127.0.0.1' },
  });
  const bad = (client: string) =>
    proxied.fetch('/v1/models', {
      headers: { authorization: 'Bearer nonsense', 'x-forwarded-for': client },
    });

  it('counts failures per forwarded client, so one cannot lock out the others', async () => {
    expect((await bad('203.0.113.7')).status).toBe(401);
    expect((await bad('203.0.113.7')).status).toBe(401);
    expect((await bad('203.0.113.7')).status).toBe(429);
    expect((await bad('198.51.100.9')).status).toBe(401);
  });
});
