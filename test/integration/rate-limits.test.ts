import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { apiError } from '../helpers/api-error.js';
import { chatCompletion, json } from '../helpers/fake-upstream.js';
import { completionLog, type TestGateway, useUpstreamGateway } from '../helpers/gateway.js';
import { openLedger, STORE_KINDS, shiftableClock } from '../helpers/limit-stores.js';

const chat = (extra: Record<string, unknown> = {}) => ({
  model: 'gpt-test',
  messages: [{ role: 'user' as const, content: 'Hi' }],
  ...extra,
});

async function setLimit(gateway: TestGateway, body: Record<string, unknown>) {
  const response = await gateway.fetch('/admin/v1/tenants/test/limits', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status, await response.clone().text()).toBeLessThan(300);
  return (await response.json()) as { id: string };
}

const metrics = async (gateway: TestGateway) => (await fetch(`${gateway.url}/metrics`)).text();

/** A completion and its response headers, once its usage has been settled. */
async function call(gateway: TestGateway, client: OpenAI, extra: Record<string, unknown> = {}) {
  const { response, data } = await client.chat.completions.create(chat(extra)).withResponse();
  await completionLog(gateway, response.headers.get('x-request-id'));
  return { data, headers: response.headers };
}

describe.each(STORE_KINDS)('rate limits on the %s store', (kind) => {
  const clock = shiftableClock();
  const { upstream, gateway } = useUpstreamGateway({
    services: { ledger: openLedger(kind, { clock: clock.now }) },
  });
  upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));

  afterEach(async () => {
    // Each test sets its own rules; new rules count on fresh counters.
    for (const rule of await gateway.services.limitRules.list('test'))
      await gateway.services.limitRules.delete('test', rule.id);
  });

  it('admits up to requests_per_minute with OpenAI headers, then 429s before the upstream', async () => {
    const refusals = async () =>
      Number(
        /^llm_backend_limit_refusals_total\{kind="requests_per_minute",tenant="test"\} (\d+)$/m.exec(
          await metrics(gateway),
        )?.[1] ?? 0,
      );
    const refusedBefore = await refusals();
    await setLimit(gateway, { scope: 'tenant', requests_per_minute: 3 });
    const remaining: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const { headers } = await call(gateway, gateway.client);
      expect(headers.get('x-ratelimit-limit-requests')).toBe('3');
      expect(headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+ms|(\d+m)?\d+(\.\d+)?s)$/);
      remaining.push(headers.get('x-ratelimit-remaining-requests'));
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const refused = await apiError(gateway.client.chat.completions.create(chat()));
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect([refused.status, refused.code, refused.type]).toEqual([
      429,
      'rate_limit_exceeded',
      'requests',
    ]);
    expect(refused.message).toMatch(/requests per min \(RPM\): Limit 3, Used 3, Requested 1/);
    const retryAfter = Number(refused.headers?.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(61);
    expect(Number(refused.headers?.get('retry-after-ms'))).toBeLessThanOrEqual(61_000);
    expect(refused.headers?.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(upstream.requests).toHaveLength(3);
    // The refusal is counted, and the limit shows as used up.
    expect(await refusals()).toBe(refusedBefore + 1);
    expect(await metrics(gateway)).toMatch(
      /^llm_backend_limit_use_ratio\{tenant="test",kind="requests_per_minute"\} 1$/m,
    );
  });

  it('reserves prompt plus max_tokens, refuses what cannot fit, then counts the real usage', async () => {
    await setLimit(gateway, { scope: 'tenant', tokens_per_minute: 1000 });
    const tooBig = await apiError(
      gateway.client.chat.completions.create(chat({ max_tokens: 2000 })),
    );
    expect([tooBig.status, tooBig.type]).toEqual([429, 'tokens']);
    expect(upstream.requests).toHaveLength(0);

    const first = await call(gateway, gateway.client, { max_tokens: 100 });
    const reserved = 1000 - Number(first.headers.get('x-ratelimit-remaining-tokens'));
    expect(reserved).toBeGreaterThan(100);
    expect(first.headers.get('x-ratelimit-limit-tokens')).toBe('1000');
    // The first request used 13 tokens (the upstream says so), not what it reserved.
    const second = await call(gateway, gateway.client, { max_tokens: 100 });
    expect(Number(second.headers.get('x-ratelimit-remaining-tokens'))).toBe(1000 - 13 - reserved);
  });

  it('admits a request whose byte bound is over the limit but whose tokens fit', async () => {
    await setLimit(gateway, { scope: 'tenant', tokens_per_minute: 500 });
    // 1,200 bytes of English: about 300 tokens with the tokenizer, 1,200 by the byte bound.
    const content = 'the quick brown fox jumps over the lazy dog '.repeat(27).slice(0, 1200);
    const messages = [{ role: 'user' as const, content }];
    const { headers } = await call(gateway, gateway.client, { messages, max_tokens: 50 });
    const reserved = 500 - Number(headers.get('x-ratelimit-remaining-tokens'));
    expect(reserved).toBeGreaterThan(50);
    expect(reserved).toBeLessThan(500);
    expect(upstream.requests).toHaveLength(1);
    // What cannot fit even counted exactly is still refused before the upstream.
    const tooBig = await apiError(
      gateway.client.chat.completions.create(chat({ messages, max_tokens: 400 })),
    );
    expect([tooBig.status, tooBig.type]).toEqual([429, 'tokens']);
    expect(upstream.requests).toHaveLength(1);
  });

  it('gives back the reservation of a call that failed', async () => {
    await setLimit(gateway, { scope: 'tenant', tokens_per_minute: 1000 });
    upstream.next((_req, res) => json(res, 500, { error: { message: 'boom' } }));
    const failed = await gateway.client.chat.completions
      .create(chat({ max_tokens: 500 }))
      .withResponse()
      .catch((error: unknown) => error as InstanceType<typeof OpenAI.APIError>);
    expect((failed as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    await completionLog(
      gateway,
      (failed as InstanceType<typeof OpenAI.APIError>).headers?.get('x-request-id') ?? null,
    );
    const after = await call(gateway, gateway.client, { max_tokens: 100 });
    const reserved = 1000 - Number(after.headers.get('x-ratelimit-remaining-tokens'));
    expect(reserved).toBeLessThan(200);
  });

  it('applies key, user and model rules to their targets only', async () => {
    const users = gateway.services.users;
    const user = await users.create('test', {
      email: `limited-${kind}@test.test`,
      name: 'L',
      role: 'member',
    });
    const keys = gateway.services.keys;
    const [a, b] = await Promise.all([
      keys.create('test', { name: 'a', role: 'member', userId: user.id }),
      keys.create('test', { name: 'b', role: 'member', userId: user.id }),
    ]);
    const sdk = (secret: string) =>
      new OpenAI({ apiKey: secret, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    await setLimit(gateway, { scope: 'key', subject_id: a.key.id, requests_per_minute: 1 });
    await call(gateway, sdk(a.secret));
    expect((await apiError(sdk(a.secret).chat.completions.create(chat()))).status).toBe(429);
    await call(gateway, sdk(b.secret));
    await call(gateway, gateway.client);

    await setLimit(gateway, { scope: 'user', subject_id: user.id, requests_per_minute: 2 });
    // The user's window is fresh: b fills it, and a stays refused by its own rule.
    await call(gateway, sdk(b.secret));
    await call(gateway, sdk(b.secret));
    expect((await apiError(sdk(b.secret).chat.completions.create(chat()))).status).toBe(429);
    await call(gateway, gateway.client);

    await setLimit(gateway, { scope: 'tenant', model: 'embed-test', requests_per_minute: 1 });
    await call(gateway, gateway.client);
    upstream.always((_req, res) =>
      json(res, 200, {
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: [0.1] }],
        model: 'upstream-embed',
        usage: { prompt_tokens: 1, total_tokens: 1 },
      }),
    );
    await gateway.client.embeddings.create({ model: 'embed-test', input: 'x' });
    const embedRefused = await apiError(
      gateway.client.embeddings.create({ model: 'embed-test', input: 'x' }),
    );
    expect(embedRefused.status).toBe(429);
    upstream.always((_req, res) => json(res, 200, chatCompletion('ok')));
  });

  it('caps concurrent requests and frees the slot when a request ends', async () => {
    await setLimit(gateway, { scope: 'tenant', max_concurrent_requests: 1 });
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    upstream.next(async (_req, res) => {
      await held;
      json(res, 200, chatCompletion('slow'));
    });
    // Both with the same x-request-id: a client's own id must not let two requests share a slot.
    const sameId = { headers: { 'x-request-id': 'req_client-chosen' } };
    const slow = gateway.client.chat.completions.create(chat(), sameId);
    await eventuallyRequests(upstream.requests, 1);
    const refused = await apiError(gateway.client.chat.completions.create(chat(), sameId));
    expect([refused.status, refused.headers?.get('retry-after')]).toEqual([429, '1']);
    release();
    await slow;
    const { response } = await gateway.client.chat.completions.create(chat()).withResponse();
    await completionLog(gateway, response.headers.get('x-request-id'));
    expect(response.status).toBe(200);
  });

  it('is honoured by the SDK: it waits retry-after-ms and its retry gets through', async () => {
    await setLimit(gateway, { scope: 'tenant', requests_per_minute: 1 });
    await call(gateway, gateway.client);
    // Late in the window: the first request leaves it in one to two seconds.
    clock.skip(59_000);
    const patient = new OpenAI({
      apiKey: gateway.apiKey,
      baseURL: `${gateway.url}/v1`,
      maxRetries: 1,
    });
    const started = Date.now();
    const answer = await patient.chat.completions.create(chat());
    expect(answer.choices[0]?.message.content).toBe('ok');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(upstream.requests).toHaveLength(2);
    clock.skip(120_000);
  });
});

async function eventuallyRequests(requests: unknown[], count: number) {
  for (let i = 0; i < 500 && requests.length < count; i++)
    await new Promise((resolve) => setTimeout(resolve, 10));
  expect(requests).toHaveLength(count);
}
