import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { chatCompletion, FakeUpstream, json, sse, textChunks } from './fake-upstream.js';
import { writeConfigFile } from './gateway.js';
import { type ChildRole, startRole } from './gateway-process.js';
import { TEST_REDIS_URL } from './limit-stores.js';
import { freePort } from './prometheus.js';
import { servicesOn, TEST_MASTER_KEY, type TestServices } from './tenant-services.js';
import { WebhookReceiver } from './webhook-receiver.js';

/**
 * A deployment as an operator runs it, for the observability checks: `llm-backend serve` and
 * `llm-backend worker` as processes over PostgreSQL and Redis, in front of a fake upstream
 * that answers, fails, fails once or streams depending on the upstream model asked for.
 */
export interface ObservedStack {
  upstream: FakeUpstream;
  services: TestServices;
  serve: ChildRole & { url: string };
  /** `llm-backend worker`; `url` is where its metrics are (OPS_PORT). */
  worker: ChildRole & { url: string };
  receiver: WebhookReceiver;
  /** Each tenant's clients: `owner` with the owner key, `member` a user's key, `limited` a key of 1 request a minute. */
  tenants: Record<'acme' | 'globex', Record<'owner' | 'member' | 'limited', OpenAI>>;
  close(): Promise<void>;
}

const PRICING = { input: 1, output: 2, cached_input: 0.5 };

/** Models that exercise every path the dashboards show. */
function stackConfig(upstreamUrl: string) {
  const upstream = (model: string) => ({ provider: 'upstream', model });
  return {
    providers: {
      upstream: {
        type: 'openai-compatible',
        base_url: upstreamUrl,
        api_key_env: 'TEST_UPSTREAM_KEY',
      },
    },
    routing: {
      backoff_base_ms: 1,
      backoff_max_ms: 5,
      // Short, so an open circuit comes back to half-open while traffic runs.
      circuit_breaker: { failure_threshold: 3, cooldown_ms: 2000 },
    },
    models: [
      {
        name: 'gpt-large',
        ...upstream('upstream-model'),
        pricing: PRICING,
        cache: { enabled: true },
      },
      { name: 'gpt-small', ...upstream('upstream-small'), pricing: { input: 0.2, output: 0.8 } },
      {
        // The primary always fails: each request fails over to the secondary.
        name: 'gpt-failover',
        deployments: [
          { id: 'primary', ...upstream('broken-model'), priority: 0 },
          { id: 'secondary', ...upstream('upstream-model'), priority: 1 },
        ],
        pricing: PRICING,
      },
      // Fails each question the first time: each request fails once, then succeeds on its retry.
      { name: 'gpt-flaky', ...upstream('flaky-model'), routing: { retries: 1 }, pricing: PRICING },
      // Always fails: the client gets an upstream error.
      { name: 'gpt-broken', ...upstream('broken-model') },
    ],
  };
}

/** The upstream's behaviour, by the model the gateway asks for. */
function scriptUpstream(upstream: FakeUpstream, delayMs: () => number): void {
  const seen = new Set<string>();
  upstream.always(async (req, res) => {
    const body = req.body as { model?: string; stream?: boolean; messages?: unknown };
    const question = JSON.stringify(body.messages);
    await new Promise((resolve) => setTimeout(resolve, delayMs()));
    const firstTry = !seen.has(question);
    seen.add(question);
    if (body.model === 'broken-model' || (body.model === 'flaky-model' && firstTry))
      return json(res, 500, { error: { message: 'upstream failure', type: 'server_error' } });
    if (body.stream)
      return sse(res, textChunks(['Hello', ' there', '!'], { usage: true }), { gapMs: 5 });
    json(res, 200, chatCompletion('Hello there!'));
  });
}

async function provisionTenant(
  services: TestServices,
  slug: string,
  sdk: (secret: string) => OpenAI,
  tokensPerDay: number,
) {
  await services.tenants.create({ slug, name: slug });
  const owner = await services.keys.create(slug, { name: 'owner', role: 'owner' });
  const user = await services.users.create(slug, {
    email: `dev@${slug}.test`,
    name: 'Dev',
    role: 'member',
  });
  const member = await services.keys.create(slug, {
    name: 'member',
    role: 'member',
    userId: user.id,
  });
  const limited = await services.keys.create(slug, { name: 'limited', role: 'member' });
  await services.limitRules.set(slug, {
    scope: 'key',
    subjectId: limited.key.id,
    requestsPerMinute: 1,
  });
  // A daily token quota and a monthly budget, so their use shows as a fraction; a threshold
  // at every 1 % up to 10 %, so that traffic keeps raising quota.threshold_reached events for
  // the webhook dispatcher to deliver.
  const thresholds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  await services.quotas.set(slug, {
    scope: 'tenant',
    metric: 'tokens',
    period: 'day',
    amount: tokensPerDay,
    thresholds,
  });
  await services.quotas.set(slug, {
    scope: 'tenant',
    metric: 'cost',
    period: 'month',
    amount: 1,
    thresholds,
  });
  return { owner: sdk(owner.secret), member: sdk(member.secret), limited: sdk(limited.secret) };
}

export interface StackOptions {
  /** The upstream's time per answer; default 0. */
  delayMs?: () => number;
  /** Each tenant's daily token quota; default 2000 (each round of traffic passes 1 % of it). */
  tokensPerDay?: number;
}

export async function startObservedStack(options: StackOptions = {}): Promise<ObservedStack> {
  const children = new Set<ChildProcess>();
  const upstream = await new FakeUpstream().start();
  scriptUpstream(upstream, options.delayMs ?? (() => 0));
  const receiver = await new WebhookReceiver().start();
  const services = await servicesOn('postgres', { webhooks: { allowedHosts: ['127.0.0.1'] } });
  // A stream of its own, so no other test's workers take these events.
  const usageStream = `llmb:usage:observability:${randomUUID()}`;
  const close = async () => {
    for (const child of children) child.kill('SIGKILL');
    await dropKeys(usageStream);
    await services.close();
    await receiver.stop();
    await upstream.stop();
  };
  try {
    const tokensPerDay = options.tokensPerDay ?? 2000;
    const roles = await startRoles(services, upstream, receiver, children, {
      tokensPerDay,
      usageStream,
    });
    return { ...roles, close };
  } catch (error) {
    // Nothing may outlive a failed start: the processes are the test's to stop.
    await close();
    throw error;
  }
}

async function startRoles(
  services: TestServices,
  upstream: FakeUpstream,
  receiver: WebhookReceiver,
  children: Set<ChildProcess>,
  { tokensPerDay, usageStream }: { tokensPerDay: number; usageStream: string },
): Promise<Omit<ObservedStack, 'close'>> {
  const env = {
    DATABASE_URL: services.backend.url ?? '',
    REDIS_URL: TEST_REDIS_URL,
    USAGE_STREAM: usageStream,
    MASTER_KEY: TEST_MASTER_KEY,
    CONFIG_FILE: writeConfigFile(stackConfig(upstream.url)),
    TEST_UPSTREAM_KEY: 'unused',
    WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
    PORT: '0',
  };
  // As in production with Redis: gateways only publish usage and events, a worker writes
  // usage and delivers webhooks, and serves its metrics on OPS_PORT (it has no other port).
  const serve = await startRole(
    'serve',
    { ...env, USAGE_WORKERS: '0', WEBHOOK_WORKERS: '0' },
    children,
  );
  const workerPort = await freePort();
  const workerRole = await startRole('worker', { ...env, OPS_PORT: String(workerPort) }, children);
  const worker = { ...workerRole, url: `http://127.0.0.1:${workerPort}` };
  const sdk = (apiKey: string) => new OpenAI({ apiKey, baseURL: `${serve.url}/v1`, maxRetries: 0 });
  const tenants = {
    acme: await provisionTenant(services, 'acme', sdk, tokensPerDay),
    globex: await provisionTenant(services, 'globex', sdk, tokensPerDay),
  };
  // The worker's dispatcher delivers acme's quota events here.
  await services.webhooks.endpoints.create('acme', {
    url: receiver.url('/acme'),
    eventTypes: ['quota.*'],
  });
  return { upstream, services, serve, worker, receiver, tenants };
}

/** The usage stream and the keys kept beside it (`{stream}:...`). */
async function dropKeys(stream: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const keys = await redis.keys(`*${stream}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

const ask = (content: string) => [{ role: 'user' as const, content }];
/** Quotas reserve a request's max_tokens before the call: small, so many fit in the quota. */
const MAX_TOKENS = 20;

/**
 * One round of traffic: answers for both tenants and several models, a stream, a cache hit,
 * a failover, a retry, an upstream error and a refusal. Failures are the point of some calls,
 * so each call's outcome is returned rather than thrown.
 */
export async function driveTraffic(stack: ObservedStack): Promise<PromiseSettledResult<unknown>[]> {
  const { acme, globex } = stack.tenants;
  const calls: Promise<unknown>[] = [];
  for (const clients of [acme, globex]) {
    const chat = (client: OpenAI, model: string, content = randomUUID()) =>
      client.chat.completions.create({ model, messages: ask(content), max_tokens: MAX_TOKENS });
    calls.push(
      chat(clients.owner, 'gpt-large'),
      chat(clients.member, 'gpt-small'),
      chat(clients.owner, 'gpt-failover'),
      chat(clients.member, 'gpt-flaky'),
      chat(clients.owner, 'gpt-broken'),
      drain(
        clients.member.chat.completions.create({
          model: 'gpt-large',
          messages: ask(`stream ${randomUUID()}`),
          max_tokens: MAX_TOKENS,
          stream: true,
          stream_options: { include_usage: true },
        }),
      ),
    );
  }
  // The same deterministic question twice: the second is a cache hit.
  const cached = {
    model: 'gpt-large',
    temperature: 0,
    max_tokens: MAX_TOKENS,
    messages: ask('what is cached?'),
  };
  calls.push(
    acme.owner.chat.completions
      .create(cached)
      .then(() => acme.owner.chat.completions.create(cached)),
  );
  // One request a minute for this key: the second is refused.
  const limited = () =>
    globex.limited.chat.completions.create({
      model: 'gpt-small',
      max_tokens: MAX_TOKENS,
      messages: ask('limited'),
    });
  calls.push(limited().then(limited, limited));
  return Promise.allSettled(calls);
}

async function drain(stream: Promise<AsyncIterable<unknown>>): Promise<number> {
  let chunks = 0;
  for await (const _chunk of await stream) chunks++;
  return chunks;
}
