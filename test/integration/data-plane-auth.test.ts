import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.js';
import { chatCompletion, json } from '../helpers/fake-upstream.js';
import { completionLog, useUpstreamGateway } from '../helpers/gateway.js';

const { upstream, gateway } = useUpstreamGateway();
upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));
const messages = [{ role: 'user' as const, content: 'Hi' }];

function clientWith(apiKey: string): OpenAI {
  return new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
}

describe('the data plane needs a tenant API key', () => {
  it('answers 401 invalid_api_key without a key, or with a malformed, forged or unknown one', async () => {
    const missing = await gateway.fetch('/v1/models', { headers: { authorization: '' } });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({
      error: { code: 'invalid_api_key', type: 'invalid_request_error' },
    });
    const last = gateway.apiKey.at(-1) === 'A' ? 'B' : 'A';
    const attempts = [
      'sk-proj-abc',
      'llmb_tooShort',
      `${gateway.apiKey.slice(0, -1)}${last}`,
      `llmb_${'a'.repeat(38)}`,
    ];
    for (const key of attempts) {
      const error = await apiError(
        clientWith(key).chat.completions.create({ model: 'gpt-test', messages }),
      );
      expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(error.code).toBe('invalid_api_key');
    }
    expect(upstream.requests).toHaveLength(0);
  });

  it('refuses a revoked key on the next request', async () => {
    const { key, secret } = await gateway.services.keys.create('test', {
      name: 'short-lived',
      role: 'member',
    });
    const client = clientWith(secret);
    expect(
      (await client.chat.completions.create({ model: 'gpt-test', messages })).choices,
    ).toHaveLength(1);
    await gateway.services.keys.revoke('test', key.id);
    const error = await apiError(client.chat.completions.create({ model: 'gpt-test', messages }));
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('refuses an expired key', async () => {
    const { secret } = await gateway.services.keys.create('test', {
      name: 'expired',
      role: 'member',
      expiresAt: new Date(Date.now() - 1000),
    });
    const error = await apiError(clientWith(secret).models.list());
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('answers 403 for the key of a disabled tenant, and serves it again once enabled', async () => {
    await gateway.services.tenants.create({ slug: 'paused', name: 'Paused' });
    const { secret } = await gateway.services.keys.create('paused', { name: 'p', role: 'member' });
    await gateway.services.tenants.setStatus('paused', 'disabled');
    const error = await apiError(
      clientWith(secret).chat.completions.create({ model: 'gpt-test', messages }),
    );
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(error.code).toBe('tenant_disabled');
    await gateway.services.tenants.setStatus('paused', 'active');
    expect((await clientWith(secret).models.list()).data.length).toBeGreaterThan(0);
  }, 30_000);

  it('lets a viewer list models but not call them (403 permission_denied)', async () => {
    const { secret } = await gateway.services.keys.create('test', {
      name: 'viewer',
      role: 'viewer',
    });
    // The three models and the built-in `auto` router.
    expect((await clientWith(secret).models.list()).data.length).toBe(4);
    const error = await apiError(
      clientWith(secret).chat.completions.create({ model: 'gpt-test', messages }),
    );
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(error.code).toBe('permission_denied');
  });

  it('limits a key to its allowed models, as if the others did not exist', async () => {
    const { secret } = await gateway.services.keys.create('test', {
      name: 'narrow',
      role: 'member',
      allowedModels: ['gpt-test'],
    });
    const client = clientWith(secret);
    // `auto` stays listed: gpt-test is one of its candidates.
    expect((await client.models.list()).data.map((model) => model.id)).toEqual([
      'gpt-test',
      'auto',
    ]);
    const error = await apiError(client.embeddings.create({ model: 'embed-test', input: 'x' }));
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error.code).toBe('model_not_found');
    await expect(client.models.retrieve('embed-test')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    expect(
      (await client.chat.completions.create({ model: 'gpt-test', messages })).choices,
    ).toHaveLength(1);
  });

  it('records when a key was last used, in batches rather than a write per request', async () => {
    const { key, secret } = await gateway.services.keys.create('test', {
      name: 'used',
      role: 'member',
    });
    const before = Date.now();
    await clientWith(secret).models.list();
    await clientWith(secret).models.list();
    expect((await gateway.services.keys.get('test', key.id)).lastUsedAt).toBeNull();
    await gateway.services.keyUsage.flush();
    const used = (await gateway.services.keys.get('test', key.id)).lastUsedAt;
    expect(used).toBeInstanceOf(Date);
    expect((used as Date).getTime()).toBeGreaterThanOrEqual(before);
  });

  it('logs the tenant and key of each request, never a secret', async () => {
    const { response } = await gateway.client.chat.completions
      .create({ model: 'gpt-test', messages })
      .withResponse();
    const requestId = response.headers.get('x-request-id');
    const line = await completionLog(gateway, requestId);
    expect(line).toMatchObject({
      tenantId: expect.stringMatching(/^tnt_/),
      keyId: expect.stringMatching(/^key_/),
    });
    expect(JSON.stringify(gateway.logs)).not.toMatch(/llmb_[0-9A-Za-z]{38}/);
  });
});
