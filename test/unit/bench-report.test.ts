import { describe, expect, it } from 'vitest';
import { amortized, ioBetween } from '../../bench/io.js';
import { accountedExactly, type Counters } from '../../bench/llm-backend.js';
import type { Measured } from '../../bench/measure.js';
import type { LoadResult, StreamResult } from '../../bench/protocol.js';
import {
  compareToBare,
  type Figures,
  figuresOf,
  markdownTable,
  ratio,
} from '../../bench/report.js';
import { cacheSection, redisSection } from '../../bench/sections.js';
import type { SystemName } from '../../bench/systems.js';

const counters = (commands: Record<string, number>, otherClients = 0): Counters => ({
  commands,
  transactions: { control: 10, tenant: 20 },
  otherClients,
});

const load = (connections: number, p50: number, rps: number): LoadResult => ({
  connections,
  durationSec: 1,
  rps,
  ok: rps,
  non2xx: 0,
  errors: 0,
  timeouts: 0,
  p50,
  p90: p50,
  p99: p50 * 2,
  mean: p50,
});

const streams = (concurrency: number, ttft: number): StreamResult => ({
  concurrency,
  streams: 10,
  errors: 0,
  ttftP50: ttft,
  ttftP99: ttft,
  totalP50: 90 + ttft,
  totalP99: 90 + ttft,
});

/** A system whose every latency is `k` times the base and throughput `1 / k` of it. */
function measured(name: SystemName, k: number, extra: Partial<Measured> = {}): Measured {
  const memory = name === 'direct' ? null : 50 * k;
  return {
    name,
    warm: load(16, k, 1000 / k),
    c1: load(1, 0.1 * k, 5000 / k),
    c16: load(16, 0.3 * k, 20000 / k),
    saturation: load(64, k, 40000 / k),
    s32: streams(32, k),
    s256: streams(256, 2 * k),
    hold: null,
    rssStart: memory,
    rssIdle: memory,
    rss1000: memory,
    accounting: null,
    logs: {},
    io: {},
    cache: null,
    ...extra,
  };
}

describe('Redis commands per request', () => {
  it('divides what a phase ran by the requests it served, leaving out the harness’s own reads', () => {
    const before = counters({ evalsha: 100, xadd: 50, info: 7 });
    const after = counters({ evalsha: 300, xadd: 150, info: 9, 'client|list': 2, hget: 10 }, 3);
    const io = ioBetween(before, after, 100);
    expect(io).toMatchObject({
      requests: 100,
      commands: { evalsha: 200, xadd: 100, hget: 10 },
      redis: 3.1,
      redisByCommand: { evalsha: 2, xadd: 1, hget: 0.1 },
      otherClients: 3,
    });
    expect(Object.keys(io?.redisByCommand ?? {})).toEqual(['evalsha', 'xadd', 'hget']);
  });

  it('has no figure for a phase that served nothing', () => {
    expect(ioBetween(counters({}), counters({ xadd: 5 }), 0)).toBeNull();
  });

  it('amortizes phases by their commands over their requests, not by averaging them', () => {
    const one = ioBetween(counters({}), counters({ evalsha: 100 }), 100);
    const other = ioBetween(counters({}), counters({ evalsha: 100, xadd: 800 }), 900);
    if (one === null || other === null) throw new Error('no figures');
    expect(amortized([one, other])).toEqual({
      redis: 1,
      top: { xadd: 0.8, evalsha: 0.2 },
      otherClients: 0,
    });
  });
});

describe('ratios to the bare proxy', () => {
  it('takes none of a missing figure or one not above zero', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(3, null)).toBeNull();
    expect(ratio(3, 0)).toBeNull();
    expect(ratio(-1, 2)).toBeNull();
    expect(ratio(1, -2)).toBeNull();
  });

  it('gives every system each figure as a multiple of the bare proxy’s, in JSON and markdown', () => {
    const direct = measured('direct', 1);
    const systems = {
      direct,
      'bare-proxy': measured('bare-proxy', 2),
      'llm-backend': measured('llm-backend', 5, {
        io: {
          '1c': ioBetween(counters({}), counters({ evalsha: 40 }), 20) ?? expect.fail(),
          '64c': ioBetween(counters({}), counters({ evalsha: 60 }), 60) ?? expect.fail(),
        },
        cache: { available: false, reason: 'no header' },
      }),
    };
    const figures: Partial<Record<SystemName, Figures>> = {};
    for (const [name, m] of Object.entries(systems)) {
      figures[name as SystemName] = figuresOf(m, direct);
    }
    compareToBare(figures);
    const ours = figures['llm-backend'];
    expect(ours?.vs_bare_proxy).toMatchObject({
      rps: 0.4,
      p50_ms_1c: 2.5,
      added_p50_ms_1c: 4,
      rss_mb_idle: 2.5,
    });
    expect(ours?.redis_commands_per_request).toBe(1.25);
    expect(ours?.redis_commands_per_request_saturation).toBe(1);
    expect(markdownTable(figures)).toContain(
      '| added latency p50, 1 connection (ms) | 0.400 | - | 0.100 | - | - | 4.00× | - |',
    );
    expect(redisSection(ours)).toContain('1.25 amortized over the measured phases');
    expect(cacheSection(ours, figures.direct, figures['bare-proxy'])).toBe(
      'Cache phase: not available (no header).',
    );
  });
});

describe('the accounting check', () => {
  it('wants one record per answer, at most one per client that left, none extra', () => {
    const answered = { '200': 100, '499': 5, '429': 3 };
    expect(accountedExactly(answered, { '200': 100, '429': 3 })).toBe(true);
    // Committed before the last byte, then the client left: recorded as the 200 it was.
    expect(accountedExactly(answered, { '200': 104, '499': 1, '429': 3 })).toBe(true);
    expect(accountedExactly(answered, { '200': 99, '429': 3 })).toBe(false);
    expect(accountedExactly(answered, { '200': 104, '499': 2, '429': 3 })).toBe(false);
    expect(accountedExactly(answered, { '200': 100, '429': 2 })).toBe(false);
    expect(accountedExactly(answered, { '200': 100, '429': 3, '500': 1 })).toBe(false);
  });
});
