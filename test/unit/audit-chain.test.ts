import { describe, expect, it } from 'vitest';
import {
  type ChainLink,
  canonicalJson,
  chainHash,
  GENESIS_HASH,
  verifyChain,
} from '../../src/services/audit/chain.js';

function entryAt(i: number): Record<string, unknown> {
  return {
    seq: i,
    tenantId: `tenant-${i % 2}`,
    action: i % 2 === 0 ? 'key.created' : 'key.revoked',
    at: `2025-01-0${i + 1}T00:00:00.000Z`,
    details: { keyPrefix: `llmb_000000${i}0`, tags: ['a', `t${i}`] },
  };
}

function buildChain(entries: Record<string, unknown>[]): ChainLink[] {
  const links: ChainLink[] = [];
  let previousHash = GENESIS_HASH;
  for (const entry of entries) {
    const hash = chainHash(previousHash, entry);
    links.push({ hash, previousHash, entry });
    previousHash = hash;
  }
  return links;
}

const chain = (): ChainLink[] => buildChain([0, 1, 2, 3, 4].map(entryAt));

describe('canonicalJson', () => {
  it('does not depend on key order, at any depth', () => {
    const a = { b: 1, a: { y: [3, { q: 1, p: 2 }], x: null }, c: 'é' };
    const b = { c: 'é', a: { x: null, y: [3, { p: 2, q: 1 }] }, b: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":{"x":null,"y":[3,{"p":2,"q":1}]},"b":1,"c":"é"}');
  });

  it('keeps array order, drops undefined properties and writes Dates as ISO strings', () => {
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    const at = new Date('2025-01-02T03:04:05.006Z');
    expect(canonicalJson({ at })).toBe('{"at":"2025-01-02T03:04:05.006Z"}');
    expect(canonicalJson(Object.assign(Object.create(null), { z: 1 }))).toBe('{"z":1}');
  });

  it('refuses values that are not plain data', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const bad: unknown[] = [
      { n: Number.NaN },
      { n: Number.POSITIVE_INFINITY },
      { f: () => 1 },
      { s: Symbol('x') },
      { b: 10n },
      { [Symbol('k')]: 1 },
      { m: new Map() },
      { u: new Uint8Array(1) },
      { d: new Date('nope') },
      { list: [1, undefined] },
      undefined,
      circular,
    ];
    for (const value of bad) {
      expect(() => canonicalJson(value)).toThrow(TypeError);
    }
  });

  it('accepts a shared, non-circular object twice', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: [shared] })).toBe('{"a":{"x":1},"b":[{"x":1}]}');
  });
});

describe('verifyChain', () => {
  it('accepts an intact chain and an empty one', () => {
    expect(verifyChain(chain())).toEqual({ ok: true, count: 5 });
    expect(verifyChain([])).toEqual({ ok: true, count: 0 });
    expect(verifyChain(new Set(chain()))).toEqual({ ok: true, count: 5 });
  });

  it('finds a changed, added or removed field in any entry', () => {
    for (let i = 0; i < 5; i++) {
      for (const field of Object.keys(entryAt(i))) {
        const links = chain();
        const link = links[i] as ChainLink;
        link.entry = { ...link.entry, [field]: 'tampered' };
        expect(verifyChain(links)).toEqual({ ok: false, index: i, reason: 'hash_mismatch' });
        const { [field]: _removed, ...rest } = entryAt(i);
        link.entry = rest;
        expect(verifyChain(links)).toEqual({ ok: false, index: i, reason: 'hash_mismatch' });
      }
      const links = chain();
      const link = links[i] as ChainLink;
      link.entry = { ...link.entry, seq: String(i) };
      expect(verifyChain(links)).toEqual({ ok: false, index: i, reason: 'hash_mismatch' });
      link.entry = { ...entryAt(i), extra: true };
      expect(verifyChain(links)).toEqual({ ok: false, index: i, reason: 'hash_mismatch' });
    }
  });

  it('finds a changed stored hash or previous hash', () => {
    for (let i = 0; i < 5; i++) {
      const links = chain();
      (links[i] as ChainLink).hash = 'f'.repeat(64);
      expect(verifyChain(links)).toEqual({ ok: false, index: i, reason: 'hash_mismatch' });
      const other = chain();
      (other[i] as ChainLink).previousHash = 'e'.repeat(64);
      expect(verifyChain(other)).toEqual({
        ok: false,
        index: i,
        reason: 'previous_hash_mismatch',
      });
    }
  });

  it('finds a deleted entry where the gap is', () => {
    for (let i = 0; i < 4; i++) {
      const links = chain();
      links.splice(i, 1);
      expect(verifyChain(links)).toEqual({ ok: false, index: i, reason: 'previous_hash_mismatch' });
    }
    // A chain cannot show a cut from its end; callers compare against a stored head.
    expect(verifyChain(chain().slice(0, 4))).toEqual({ ok: true, count: 4 });
  });

  it('finds two reordered entries at the first moved position', () => {
    for (let i = 0; i < 5; i++) {
      for (let j = i + 1; j < 5; j++) {
        const links = chain();
        [links[i], links[j]] = [links[j] as ChainLink, links[i] as ChainLink];
        expect(verifyChain(links)).toEqual({
          ok: false,
          index: i,
          reason: 'previous_hash_mismatch',
        });
      }
    }
  });

  it('finds a rewritten entry whose own hash was recomputed at the next link', () => {
    const links = chain();
    const link = links[2] as ChainLink;
    link.entry = { ...link.entry, action: 'key.deleted' };
    link.hash = chainHash(link.previousHash, link.entry);
    expect(verifyChain(links)).toEqual({ ok: false, index: 3, reason: 'previous_hash_mismatch' });
  });

  it('reports stored entries that cannot be canonicalised as a hash mismatch', () => {
    const links = chain();
    (links[1] as ChainLink).entry = { n: Number.NaN };
    expect(verifyChain(links)).toEqual({ ok: false, index: 1, reason: 'hash_mismatch' });
  });
});
