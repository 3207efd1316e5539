import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  isDeterministic,
  requestKey,
} from '../../src/services/cache/request-key.js';

const base = {
  tenantId: 'tnt_a',
  capability: 'chat' as const,
  model: 'gpt-4o-mini',
  body: {
    model: 'gpt-4o-mini',
    temperature: 0,
    messages: [{ role: 'user', content: 'Hello' }],
  },
};

describe('requestKey', () => {
  it('ignores key order and whitespace', () => {
    const reordered = JSON.parse(
      '{ "messages" : [ { "content":"Hello", "role":"user" } ],\n "temperature": 0, "model":"x" }',
    );
    expect(requestKey({ ...base, body: reordered })).toBe(requestKey(base));
  });

  it('ignores fields that cannot change the answer, and the alias the client used', () => {
    const body = {
      ...base.body,
      model: 'an-alias',
      stream: true,
      stream_options: { include_usage: true },
      user: 'u-1',
      metadata: { trace: 'abc' },
    };
    expect(requestKey({ ...base, body })).toBe(requestKey(base));
  });

  it('splits on messages, sampling fields, tools, unknown fields, model, capability and tenant', () => {
    const key = requestKey(base);
    const variants = [
      { ...base, body: { ...base.body, messages: [{ role: 'user', content: 'Hello!' }] } },
      { ...base, body: { ...base.body, temperature: 0.5 } },
      { ...base, body: { ...base.body, top_p: 0.9 } },
      { ...base, body: { ...base.body, seed: 7 } },
      { ...base, body: { ...base.body, max_tokens: 5 } },
      { ...base, body: { ...base.body, tools: [{ type: 'function', function: { name: 'f' } }] } },
      { ...base, body: { ...base.body, some_new_field: true } },
      { ...base, model: 'gpt-4o' },
      { ...base, capability: 'completions' as const },
      { ...base, tenantId: 'tnt_b' },
    ];
    const keys = new Set(variants.map(requestKey));
    expect(keys.size).toBe(variants.length);
    expect(keys.has(key)).toBe(false);
  });

  it('keeps array order, which is meaning', () => {
    const two = [
      { role: 'user', content: 'a' },
      { role: 'user', content: 'b' },
    ];
    expect(requestKey({ ...base, body: { ...base.body, messages: two } })).not.toBe(
      requestKey({ ...base, body: { ...base.body, messages: [...two].reverse() } }),
    );
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined fields', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"e":3,"f":2}]},"b":1}',
    );
  });
});

describe('isDeterministic', () => {
  it('holds only at temperature 0 with one choice, and always for embeddings', () => {
    expect(isDeterministic('chat', { temperature: 0 })).toBe(true);
    expect(isDeterministic('chat', { temperature: 0, n: 1 })).toBe(true);
    expect(isDeterministic('chat', {})).toBe(false);
    expect(isDeterministic('chat', { temperature: 0.2 })).toBe(false);
    expect(isDeterministic('chat', { temperature: 0, n: 2 })).toBe(false);
    expect(isDeterministic('embeddings', {})).toBe(true);
  });
});
