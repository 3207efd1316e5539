import { describe, expect, it } from 'vitest';
import {
  parseSemanticCacheSettings,
  resolveSemanticCacheSettings,
  SEMANTIC_CACHE_DEFAULTS,
  semanticCacheSettingsJson,
  semanticCacheSettingsProblems,
} from '../../src/domain/semantic-cache-settings.js';
import { paramsDigest, semanticText } from '../../src/services/cache/semantic-request.js';

describe('semantic cache settings', () => {
  it('reads the wire form, every field optional', () => {
    expect(parseSemanticCacheSettings({})).toEqual({ ok: true, value: {} });
    expect(
      parseSemanticCacheSettings({
        enabled: true,
        threshold: 0,
        embedding_model: 'e',
        ttl_seconds: 2_592_000,
        max_entries: 1,
      }),
    ).toEqual({
      ok: true,
      value: {
        enabled: true,
        threshold: 0,
        embeddingModel: 'e',
        ttlSeconds: 2_592_000,
        maxEntries: 1,
      },
    });
  });

  it('reports every problem at once, each with its parameter', () => {
    const parsed = parseSemanticCacheSettings(
      {
        enabled: 'yes',
        threshold: -0.1,
        embedding_model: '',
        ttl_seconds: 2_592_001,
        max_entries: 0,
        constructor: 1,
      },
      'cache.semantic',
    );
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.problems.map((problem) => problem.param)).toEqual([
      'cache.semantic.enabled',
      'cache.semantic.threshold',
      'cache.semantic.embedding_model',
      'cache.semantic.ttl_seconds',
      'cache.semantic.max_entries',
      'cache.semantic.constructor',
    ]);
    expect(parseSemanticCacheSettings([])).toMatchObject({ ok: false });
    expect(parseSemanticCacheSettings({ threshold: Number.NaN })).toMatchObject({ ok: false });
  });

  it('lays the layers over the defaults, the last one winning field by field', () => {
    const model = { enabled: true, embeddingModel: 'e', threshold: 0.9 };
    const tenant = { threshold: 0.97, embeddingModel: undefined };
    expect(resolveSemanticCacheSettings(model, null, tenant)).toEqual({
      ...SEMANTIC_CACHE_DEFAULTS,
      enabled: true,
      embeddingModel: 'e',
      threshold: 0.97,
    });
    expect(resolveSemanticCacheSettings()).toEqual(SEMANTIC_CACHE_DEFAULTS);
    expect(semanticCacheSettingsJson(SEMANTIC_CACHE_DEFAULTS)).toEqual({
      enabled: false,
      threshold: 0.95,
      embedding_model: null,
      ttl_seconds: 3600,
      max_entries: 2_000,
    });
  });

  it('needs an embedding model once enabled', () => {
    const enabled = resolveSemanticCacheSettings({ enabled: true });
    expect(semanticCacheSettingsProblems(enabled)).toEqual([
      expect.objectContaining({ param: 'semantic.embedding_model' }),
    ]);
    expect(semanticCacheSettingsProblems({ ...enabled, embeddingModel: 'e' })).toEqual([]);
  });
});

describe('the text a chat request is embedded as', () => {
  it('is every message in order, with its role', () => {
    expect(
      semanticText({
        messages: [
          { role: 'system', content: 'Be brief.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Hi' },
              { type: 'text', text: 'there' },
            ],
          },
          { role: 'assistant', content: 'Hello.' },
          { role: 'user', content: 'Bye' },
        ],
      }),
    ).toEqual({ text: 'system: Be brief.\nuser: Hi\nthere\nassistant: Hello.\nuser: Bye' });
  });

  it('ignores delivery fields but not sampling ones in the other fields', () => {
    const body = { model: 'a', messages: [], temperature: 0 };
    expect(paramsDigest({ ...body, stream: true, user: 'u', model: 'b' })).toBe(paramsDigest(body));
    expect(paramsDigest({ ...body, temperature: 1 })).not.toBe(paramsDigest(body));
    expect(paramsDigest({ ...body, messages: [{ role: 'user', content: 'x' }] })).toBe(
      paramsDigest(body),
    );
  });
});
