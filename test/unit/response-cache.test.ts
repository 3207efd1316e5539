import { describe, expect, it } from 'vitest';
import { type ConfigError, loadConfig } from '../../src/config/load.js';
import { cacheDirectives } from '../../src/services/cache/cache-control.js';
import { decodeEntry, encodeEntry } from '../../src/services/cache/cache-entry.js';
import { hitCost } from '../../src/services/cache/response-cache.js';
import { answerAsSse, StreamAssembler } from '../../src/services/cache/stream-answer.js';
import { decodeUsageEvent } from '../../src/services/usage/usage-wire.js';
import { writeConfigFile } from '../helpers/gateway.js';

const usage = {
  promptTokens: 6,
  completionTokens: 4,
  cachedTokens: 0,
  totalTokens: 10,
  estimated: false,
};

describe('cache-control on a request', () => {
  it('reads no-store, no-cache and max-age, and ignores the rest', () => {
    expect(cacheDirectives(undefined)).toEqual({ noStore: false, noCache: false, maxAge: null });
    expect(cacheDirectives('No-Cache, max-age=60')).toEqual({
      noStore: false,
      noCache: true,
      maxAge: 60,
    });
    expect(cacheDirectives(['no-store', 'private'])).toMatchObject({ noStore: true });
    expect(cacheDirectives('max-age=-1, max-age=abc').maxAge).toBeNull();
  });
});

describe('cache entries', () => {
  const entry = { body: { id: 'x' }, usage, model: 'm', provider: 'p', deployment: 'd', cost: 0.1 };

  it('read back what was written, and nothing from damaged text', () => {
    expect(decodeEntry(encodeEntry(entry))).toEqual(entry);
    for (const bad of ['', 'garbage', '{"v":2}', '{"v":1,"body":{},"usage":{}}', '[]', 'null'])
      expect(decodeEntry(bad), bad).toBeNull();
  });

  it('cost a hit at the price per million tokens of the answer', () => {
    expect(hitCost(usage, 0)).toBe(0);
    expect(hitCost(usage, 2)).toBe(0.00002);
  });
});

describe('a streamed answer', () => {
  it('is put together and played back as the same stream', () => {
    const head = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm' };
    const frames = [
      {
        ...head,
        choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
      },
      { ...head, choices: [{ index: 0, delta: { content: 'Hel' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: null }] },
      {
        ...head,
        choices: [
          {
            index: 0,
            delta: {
              tool_calls: [
                {
                  index: 0,
                  id: 't1',
                  type: 'function',
                  function: { name: 'f', arguments: '{"a"' },
                },
              ],
            },
            finish_reason: null,
          },
        ],
      },
      {
        ...head,
        choices: [
          {
            index: 0,
            delta: { tool_calls: [{ index: 0, function: { arguments: ':1}' } }] },
            finish_reason: null,
          },
        ],
      },
      { ...head, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
    ].map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`);
    const assembler = new StreamAssembler('chat');
    for (const frame of frames) assembler.add(frame);
    expect(assembler.answer(usage)).toBeNull();
    assembler.add('data: [DONE]\n\n');
    const answer = assembler.answer(usage);
    expect(answer).toMatchObject({
      id: 'c1',
      object: 'chat.completion',
      choices: [
        {
          message: {
            role: 'assistant',
            content: 'Hello',
            tool_calls: [
              { id: 't1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
            ],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 6, completion_tokens: 4, total_tokens: 10 },
    });
    const replayed = new StreamAssembler('chat');
    const played = answerAsSse('chat', answer ?? {}, true);
    for (const frame of played) replayed.add(frame);
    expect(replayed.answer(usage)).toEqual(answer);
    expect(played.at(-1)).toBe('data: [DONE]\n\n');
  });
});

describe('the cache section of the config file', () => {
  const file = (extra: Record<string, unknown>, model: Record<string, unknown> = {}) =>
    writeConfigFile({
      providers: { mock: { type: 'mock' } },
      models: [{ name: 'm', provider: 'mock', ...model }],
      ...extra,
    });

  it('has defaults, and a model overrides any field', () => {
    const plain = loadConfig({ CONFIG_FILE: file({}) }).cache;
    expect(plain.defaults).toEqual({
      enabled: false,
      ttlSeconds: 3600,
      maxTtlSeconds: 86_400,
      maxEntryBytes: 1_048_576,
      nondeterministic: false,
      pricePerMillion: 0,
      semantic: {},
    });
    expect(plain.tenantBudgetBytes).toBe(104_857_600);
    const own = loadConfig({
      CONFIG_FILE: file(
        { cache: { ttl_seconds: 100 } },
        { cache: { enabled: true, max_ttl_seconds: 50 } },
      ),
    }).cache;
    expect(own.models.m).toMatchObject({ enabled: true, ttlSeconds: 50, maxTtlSeconds: 50 });
  });

  it('lists what is wrong', () => {
    const problems = (() => {
      try {
        loadConfig({
          CONFIG_FILE: file(
            { cache: { ttl_seconds: 0, surprise: 1 } },
            { cache: { ttl_seconds: 90, max_ttl_seconds: 60 } },
          ),
        });
      } catch (error) {
        return (error as ConfigError).problems;
      }
      return [];
    })();
    expect(problems.some((p) => p.startsWith('CONFIG_FILE /cache/ttl_seconds'))).toBe(true);
    expect(
      problems.some((p) => p.includes('/models/0/cache/ttl_seconds: longer than max_ttl_seconds')),
    ).toBe(true);
  });
});

describe("a model's semantic cache in the config file", () => {
  const file = (semantic: unknown) =>
    writeConfigFile({
      providers: { mock: { type: 'mock' } },
      models: [
        { name: 'm', provider: 'mock', cache: { semantic } },
        { name: 'e', provider: 'mock', capabilities: { chat: false, embeddings: true } },
      ],
    });
  const problemsOf = (semantic: unknown) => {
    try {
      loadConfig({ CONFIG_FILE: file(semantic) });
    } catch (error) {
      return (error as ConfigError).problems;
    }
    return [];
  };

  it('is read under the model, over the defaults', () => {
    const config = loadConfig({ CONFIG_FILE: file({ enabled: true, embedding_model: 'e' }) });
    expect(config.cache.models.m?.semantic).toEqual({ enabled: true, embeddingModel: 'e' });
    expect(config.cache.defaults.semantic).toEqual({});
  });

  it('names what is wrong', () => {
    expect(problemsOf({ threshold: 2 })).toEqual([
      expect.stringMatching(
        /^CONFIG_FILE \/models\/0\/cache\/semantic: semantic\.threshold must be/,
      ),
    ]);
    expect(problemsOf({ enabled: true })).toEqual([
      expect.stringContaining('semantic.embedding_model is required'),
    ]);
    expect(problemsOf({ enabled: true, embedding_model: 'm' })).toEqual([
      expect.stringContaining("semantic.embedding_model 'm' is not a model of this file"),
    ]);
    expect(problemsOf({ surprise: 1 })).toEqual([
      expect.stringContaining('semantic.surprise is not a setting'),
    ]);
  });
});

describe('usage events queued before the cache', () => {
  it('read back as not cache hits', () => {
    const event = {
      id: 'evt_1',
      at: new Date().toISOString(),
      requestId: 'r',
      tenantId: 't',
      userId: null,
      keyId: 'k',
      model: 'm',
      provider: 'p',
      usage,
      cost: 0,
      latencyMs: 1,
      timeToFirstTokenMs: null,
      status: 200,
      streamed: false,
      clientDisconnected: false,
    };
    expect(decodeUsageEvent(JSON.stringify(event))).toMatchObject({
      cacheHit: false,
      savedCost: 0,
    });
    expect(decodeUsageEvent(JSON.stringify({ ...event, cacheHit: 'yes' }))).toBeNull();
  });
});
