import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type RunningWorkers, startUsageWorkers } from '../../src/services/usage/usage-workers.js';
import { type CacheStores, openCacheStores } from './cache-stores.js';
import { chatCompletion, FakeUpstream, json, sse, textChunks } from './fake-upstream.js';
import { startGateway, type TestGateway, upstreamConfig } from './gateway.js';
import { type StoreKind, shiftableClock } from './limit-stores.js';

/** Pricing of the cached model, so that hits have savings to show. */
export const PRICING = { input: 1, output: 2, cached_input: 0.5 };

/**
 * The usual test config with caching on for `gpt-test` (max lifetime 600 s), a model whose
 * entries may hold only 50 bytes, and `gpt-plain` that does not cache.
 */
export function cacheConfig(upstreamUrl: string) {
  const config = upstreamConfig(upstreamUrl);
  const [chat, embed, ...rest] = config.models as Record<string, unknown>[];
  return {
    ...config,
    models: [
      { ...chat, pricing: PRICING, cache: { enabled: true, max_ttl_seconds: 600 } },
      { ...embed, cache: { enabled: true } },
      {
        name: 'gpt-tiny-entries',
        provider: 'upstream',
        model: 'upstream-model',
        cache: { enabled: true, max_entry_bytes: 50 },
      },
      { name: 'gpt-plain', provider: 'upstream', model: 'upstream-model' },
      ...rest,
    ],
  };
}

/** Answers as asked, the content naming the call's number, so a fresh answer is told apart. */
export function answerEverything(upstream: FakeUpstream): void {
  upstream.always(async (req, res) => {
    const n = upstream.requests.length;
    const body = req.body as { stream?: boolean; input?: unknown };
    if (req.url.endsWith('/embeddings'))
      return json(res, 200, {
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: [n, 0.5] }],
        model: 'upstream-embed',
        usage: { prompt_tokens: 3, total_tokens: 3 },
      });
    if (!req.url.endsWith('/chat/completions'))
      return legacyCompletion(res, n, body.stream === true);
    if (body.stream) return sse(res, textChunks([`answer `, `${n}`], { usage: true }));
    json(res, 200, chatCompletion(`answer ${n}`));
  });
}

/** A legacy text completion, as OpenAI sends it streamed (with usage) or not. */
function legacyCompletion(res: ServerResponse, n: number, streamed: boolean) {
  const head = {
    id: 'cmpl-upstream',
    object: 'text_completion',
    created: 1_700_000_000,
    model: 'upstream-model',
  };
  const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
  const choice = (text: string, finish: string | null) => ({
    index: 0,
    text,
    logprobs: null,
    finish_reason: finish,
  });
  if (!streamed) return json(res, 200, { ...head, choices: [choice(`text ${n}`, 'stop')], usage });
  return sse(res, [
    { ...head, choices: [choice('text ', null)] },
    { ...head, choices: [choice(`${n}`, null)] },
    { ...head, choices: [choice('', 'length')] },
    { ...head, choices: [], usage },
  ]);
}

export interface CacheHarness {
  upstream: FakeUpstream;
  gateway: TestGateway;
  stores: CacheStores;
  clock: ReturnType<typeof shiftableClock>;
  /** A client of a second tenant, `other`. */
  other: { client: OpenAI; key: string };
}

/** A gateway with caching on, over stores of `kind`, for the tests of one file. */
export function useCacheGateway(kind: StoreKind): CacheHarness {
  // Filled in once started, so the harness can be destructured at module level.
  const harness = {
    upstream: new FakeUpstream(),
    clock: shiftableClock(),
    other: {},
    gateway: {},
    stores: {},
  } as CacheHarness;
  beforeAll(async () => {
    await harness.upstream.start();
    Object.assign(harness.stores, openCacheStores(kind, { clock: harness.clock.now }));
    const started = await startGateway(
      cacheConfig(harness.upstream.url),
      {},
      {
        services: {
          responses: harness.stores.responses,
          idempotency: harness.stores.idempotency,
        },
      },
    );
    Object.assign(harness.gateway, started);
    const { services, url } = started;
    await services.tenants.create({ slug: 'other', name: 'Other' });
    const { secret } = await services.keys.create('other', { name: 'o', role: 'owner' });
    harness.other.key = secret;
    harness.other.client = new OpenAI({ apiKey: secret, baseURL: `${url}/v1`, maxRetries: 0 });
    answerEverything(harness.upstream);
  }, 60_000);
  afterAll(async () => {
    await harness.gateway.close?.();
    await harness.stores.close?.();
    await harness.upstream.stop();
  }, 60_000);
  afterEach(() => harness.upstream.reset());
  return harness;
}

/** A question no other test asks, so every test starts with nothing stored for it. */
export const freshQuestion = () => `question ${randomUUID()}`;

/** A deterministic chat request (temperature 0) for the cached model. */
export function chat(content: string, extra: Record<string, unknown> = {}) {
  return {
    model: 'gpt-test',
    temperature: 0,
    messages: [{ role: 'user' as const, content }],
    ...extra,
  };
}

/** Usage workers for a harness's gateway, for the length of the file: records get written. */
export function useUsageWorkers(harness: Pick<CacheHarness, 'gateway'>): void {
  let workers: RunningWorkers | undefined;
  beforeAll(() => {
    workers = startUsageWorkers({
      queue: harness.gateway.services.usageQueue,
      records: harness.gateway.services.usageRecords,
      count: 1,
      log: { warn: () => {}, error: () => {} },
    });
  });
  afterAll(() => workers?.stop());
}
