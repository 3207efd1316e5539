/**
 * Turns what was measured into the figures of bench/results/latest.json (one object per
 * system) and the markdown tables: every figure of every system, each also as a multiple of
 * the bare proxy's (the least a Node gateway does on this machine), and each target met or
 * not. Added figures are a system's value minus direct's at the same percentile and load,
 * so they exist only when `direct` ran too; ratios only when `bare-proxy` ran.
 */
import { amortized } from './io.js';
import type { Accounting } from './llm-backend.js';
import type { Measured } from './measure.js';
import type { SystemName } from './systems.js';

export interface Figures {
  rps: number | null;
  added_p50_ms_1c: number | null;
  added_p99_ms_1c: number | null;
  added_p50_ms_16c: number | null;
  added_p99_ms_16c: number | null;
  added_ttft_p50_ms_32s: number | null;
  added_ttft_p50_ms_256s: number | null;
  rss_mb_idle: number | null;
  rss_mb_1000s: number | null;
  errors: number | null;
  added_stream_total_p50_ms_32s: number | null;
  added_stream_total_p50_ms_256s: number | null;
  rss_mb_start: number | null;
  /** The measured values the added ones come from. */
  p50_ms_1c: number;
  p99_ms_1c: number;
  p50_ms_16c: number;
  p99_ms_16c: number;
  ttft_p50_ms_32s: number;
  ttft_p50_ms_256s: number;
  stream_total_p50_ms_32s: number;
  stream_total_p50_ms_256s: number;
  /**
   * Our gateway: Redis commands per request served, amortized over the measured phases
   * (1 connection to the held streams) with the background work they set off.
   */
  redis_commands_per_request: number | null;
  redis_commands_per_request_1c: number | null;
  redis_commands_per_request_saturation: number | null;
  /** The most frequent five, per request. */
  redis_top_commands: Record<string, number> | null;
  /** Our gateway: the cache phase, or why it did not run. */
  cache: CacheFigures | null;
  /** Each figure divided by the bare proxy's; null where either is missing, or not above zero. */
  vs_bare_proxy: Partial<Record<RatioKey, number | null>>;
  raw: Omit<Measured, 'name'>;
}

export type CacheFigures =
  | { available: false; reason: string }
  | {
      available: true;
      hit_p50_ms_1c: number;
      hit_p99_ms_1c: number;
      /** The hit's latency minus direct's upstream call at 1 connection. */
      added_hit_p50_ms_1c: number | null;
      /** The hit's latency as a multiple of direct's upstream call. */
      hit_p50_vs_direct: number | null;
      hit_rps: number;
      /** The hit's p50 at 1 connection and its throughput, over the bare proxy's. */
      hit_p50_vs_bare_proxy: number | null;
      hit_rps_vs_bare_proxy: number | null;
      /** Requests that reached the upstream during the cache phase (misses). */
      upstream_calls: number;
    };

/** The figures a ratio to the bare proxy is taken of: every number but the error count. */
const RATIO_KEYS = [
  'rps',
  'p50_ms_1c',
  'p99_ms_1c',
  'p50_ms_16c',
  'p99_ms_16c',
  'ttft_p50_ms_32s',
  'ttft_p50_ms_256s',
  'stream_total_p50_ms_32s',
  'stream_total_p50_ms_256s',
  'added_p50_ms_1c',
  'added_p99_ms_1c',
  'added_p50_ms_16c',
  'added_p99_ms_16c',
  'added_ttft_p50_ms_32s',
  'added_ttft_p50_ms_256s',
  'added_stream_total_p50_ms_32s',
  'added_stream_total_p50_ms_256s',
  'rss_mb_idle',
  'rss_mb_1000s',
  'rss_mb_start',
] as const;
type RatioKey = (typeof RATIO_KEYS)[number];

const round = (value: number, digits = 3) => Number(value.toFixed(digits));

function errorsOf(m: Measured): number {
  const cached = m.cache?.available ? [m.cache.c1, m.cache.saturation] : [];
  const loads = [m.warm, m.c1, m.c16, m.saturation, ...cached];
  const streams = [m.s32, m.s256];
  return (
    loads.reduce((sum, r) => sum + r.non2xx + r.errors, 0) +
    streams.reduce((sum, r) => sum + r.errors, 0) +
    (m.hold?.errors ?? 0)
  );
}

/** A ratio to two decimals, or null when it cannot be taken. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined) return null;
  // An added figure at or below zero is noise around direct's: no multiple of it means much.
  if (!Number.isFinite(a) || !Number.isFinite(b) || a < 0 || b <= 0) return null;
  return round(a / b, 2);
}

function cacheFigures(m: Measured, direct: Measured | undefined): CacheFigures | null {
  const cache = m.cache;
  if (cache === null) return null;
  if (!cache.available) return cache;
  return {
    available: true,
    hit_p50_ms_1c: round(cache.c1.p50),
    hit_p99_ms_1c: round(cache.c1.p99),
    added_hit_p50_ms_1c: direct === undefined ? null : round(cache.c1.p50 - direct.c1.p50),
    hit_p50_vs_direct: ratio(cache.c1.p50, direct?.c1.p50),
    hit_rps: Math.round(cache.saturation.rps),
    hit_p50_vs_bare_proxy: null,
    hit_rps_vs_bare_proxy: null,
    upstream_calls: cache.upstreamCalls.c1 + cache.upstreamCalls.saturation,
  };
}

/** The phases the amortized Redis figure covers: all but the warm-up and the cache's. */
const MEASURED_PHASES = (m: Measured) =>
  Object.entries(m.io)
    .filter(([phase]) => phase !== 'warm-up' && !phase.startsWith('cache'))
    .map(([, io]) => io);

export function figuresOf(m: Measured, direct: Measured | undefined): Figures {
  const added = (pick: (x: Measured) => number) =>
    m.name === 'direct' || direct === undefined ? null : round(pick(m) - pick(direct));
  const mb = (value: number | null) => (value === null ? null : round(value, 1));
  const { name: _name, ...raw } = m;
  const redis = amortized(MEASURED_PHASES(m));
  return {
    rps: Math.round(m.saturation.rps),
    added_p50_ms_1c: added((x) => x.c1.p50),
    added_p99_ms_1c: added((x) => x.c1.p99),
    added_p50_ms_16c: added((x) => x.c16.p50),
    added_p99_ms_16c: added((x) => x.c16.p99),
    added_ttft_p50_ms_32s: added((x) => x.s32.ttftP50),
    added_ttft_p50_ms_256s: added((x) => x.s256.ttftP50),
    rss_mb_idle: mb(m.rssIdle),
    rss_mb_1000s: mb(m.rss1000),
    errors: errorsOf(m),
    added_stream_total_p50_ms_32s: added((x) => x.s32.totalP50),
    added_stream_total_p50_ms_256s: added((x) => x.s256.totalP50),
    rss_mb_start: mb(m.rssStart),
    p50_ms_1c: round(m.c1.p50),
    p99_ms_1c: round(m.c1.p99),
    p50_ms_16c: round(m.c16.p50),
    p99_ms_16c: round(m.c16.p99),
    ttft_p50_ms_32s: round(m.s32.ttftP50),
    ttft_p50_ms_256s: round(m.s256.ttftP50),
    stream_total_p50_ms_32s: round(m.s32.totalP50),
    stream_total_p50_ms_256s: round(m.s256.totalP50),
    redis_commands_per_request: redis?.redis ?? null,
    redis_commands_per_request_1c: m.io['1c']?.redis ?? null,
    redis_commands_per_request_saturation: m.io[`${m.saturation.connections}c`]?.redis ?? null,
    redis_top_commands: redis?.top ?? null,
    cache: cacheFigures(m, direct),
    vs_bare_proxy: {},
    raw,
  };
}

/** Fills in every system's ratios to the bare proxy, once all figures are known. */
export function compareToBare(results: Partial<Record<SystemName, Figures>>): void {
  const bare = results['bare-proxy'];
  for (const figures of Object.values(results)) {
    figures.vs_bare_proxy = Object.fromEntries(
      RATIO_KEYS.map((key) => [key, ratio(figures[key], bare?.[key])]),
    );
    if (figures.cache?.available) {
      figures.cache.hit_p50_vs_bare_proxy = ratio(figures.cache.hit_p50_ms_1c, bare?.p50_ms_1c);
      figures.cache.hit_rps_vs_bare_proxy = ratio(figures.cache.hit_rps, bare?.rps);
    }
  }
}

type Key = RatioKey | 'errors';

interface Row {
  label: string;
  key: Key;
  digits: number;
  /** The target, judged on our figures and Portkey's; null when the issue sets none. */
  target: { text: string; met: (ours: number, portkey: number | null) => boolean | null } | null;
}

const ROWS: Row[] = [
  {
    label: 'added latency p50, 1 connection (ms)',
    key: 'added_p50_ms_1c',
    digits: 3,
    target: { text: '≤ 0.3 ms', met: (ours) => ours <= 0.3 },
  },
  {
    label: 'added latency p99, 1 connection (ms)',
    key: 'added_p99_ms_1c',
    digits: 3,
    target: { text: '≤ 1 ms', met: (ours) => ours <= 1 },
  },
  {
    label: 'added latency p50, 16 connections (ms)',
    key: 'added_p50_ms_16c',
    digits: 3,
    target: null,
  },
  {
    label: 'added latency p99, 16 connections (ms)',
    key: 'added_p99_ms_16c',
    digits: 3,
    target: null,
  },
  {
    label: 'requests/s at saturation (64 connections)',
    key: 'rps',
    digits: 0,
    target: {
      text: '≥ 4 × Portkey',
      met: (ours, portkey) => (portkey === null ? null : ours >= 4 * portkey),
    },
  },
  {
    label: 'added TTFT p50, 32 streams (ms)',
    key: 'added_ttft_p50_ms_32s',
    digits: 3,
    target: { text: '≤ 1 ms', met: (ours) => ours <= 1 },
  },
  {
    label: 'added TTFT p50, 256 streams (ms)',
    key: 'added_ttft_p50_ms_256s',
    digits: 3,
    target: null,
  },
  {
    label: 'added stream time p50, 32 streams (ms)',
    key: 'added_stream_total_p50_ms_32s',
    digits: 3,
    target: null,
  },
  {
    label: 'added stream time p50, 256 streams (ms)',
    key: 'added_stream_total_p50_ms_256s',
    digits: 3,
    target: null,
  },
  { label: 'resident memory idle (MB)', key: 'rss_mb_idle', digits: 1, target: null },
  {
    label: 'resident memory, 1,000 open streams (MB)',
    key: 'rss_mb_1000s',
    digits: 1,
    target: { text: '≤ 200 MB', met: (ours) => ours <= 200 },
  },
  {
    label: 'errors (non-2xx, connection errors, timeouts)',
    key: 'errors',
    digits: 0,
    target: { text: '0', met: (ours) => ours === 0 },
  },
];

const show = (value: number | null | undefined, digits: number) =>
  value === null || value === undefined ? '-' : value.toFixed(digits);
const times = (value: number | null | undefined) =>
  value === null || value === undefined ? '-' : `${value.toFixed(2)}×`;

/** The targets, judged on the added figures: ours, Portkey's, the bare proxy's. */
export function markdownTable(results: Partial<Record<SystemName, Figures>>): string {
  const ours = results['llm-backend'];
  const portkey = results.portkey;
  const bare = results['bare-proxy'];
  const direct = results.direct;
  const lines = [
    '| figure | llm-backend | Portkey | bare proxy | direct | ours / Portkey | ours / bare | Portkey / bare | target | met |',
    '| ------ | ----------: | ------: | ---------: | -----: | -------------: | ----------: | -------------: | ------ | --- |',
  ];
  for (const row of ROWS) {
    const a = ours?.[row.key] ?? null;
    const b = portkey?.[row.key] ?? null;
    const met = row.target === null || a === null ? null : row.target.met(a, b);
    const verdict = met === null ? '' : met ? 'met' : 'not met';
    const directValue =
      row.key === 'rps' || row.key === 'errors' ? show(direct?.[row.key], row.digits) : '-';
    const vsBare = (figures: Figures | undefined) =>
      row.key === 'errors' ? '-' : times(figures?.vs_bare_proxy[row.key]);
    lines.push(
      `| ${row.label} | ${show(a, row.digits)} | ${show(b, row.digits)} | ${show(bare?.[row.key], row.digits)} | ${directValue} | ${times(ratio(a, b))} | ${vsBare(ours)} | ${vsBare(portkey)} | ${row.target?.text ?? ''} | ${verdict} |`,
    );
  }
  return lines.join('\n');
}

const MEASURED: { label: string; key: Key; digits: number }[] = [
  { label: 'latency p50, 1 connection (ms)', key: 'p50_ms_1c', digits: 3 },
  { label: 'latency p99, 1 connection (ms)', key: 'p99_ms_1c', digits: 3 },
  { label: 'latency p50, 16 connections (ms)', key: 'p50_ms_16c', digits: 3 },
  { label: 'latency p99, 16 connections (ms)', key: 'p99_ms_16c', digits: 3 },
  { label: 'requests/s at saturation', key: 'rps', digits: 0 },
  { label: 'TTFT p50, 32 streams (ms)', key: 'ttft_p50_ms_32s', digits: 3 },
  { label: 'TTFT p50, 256 streams (ms)', key: 'ttft_p50_ms_256s', digits: 3 },
  { label: 'stream time p50, 32 streams (ms)', key: 'stream_total_p50_ms_32s', digits: 3 },
  { label: 'stream time p50, 256 streams (ms)', key: 'stream_total_p50_ms_256s', digits: 3 },
  { label: 'resident memory idle (MB)', key: 'rss_mb_idle', digits: 1 },
  { label: 'resident memory, 1,000 open streams (MB)', key: 'rss_mb_1000s', digits: 1 },
  { label: 'errors', key: 'errors', digits: 0 },
];

/**
 * The measured values themselves, from which the added figures are taken, each system's
 * next to its multiple of the bare proxy's.
 */
export function rawTable(results: Partial<Record<SystemName, Figures>>): string {
  const systems = Object.entries(results);
  const withRatio = (name: string) => name !== 'bare-proxy' && name !== 'direct';
  const head = systems.flatMap(([name]) => (withRatio(name) ? [name, '× bare'] : [name]));
  const lines = [
    `| figure | ${head.join(' | ')} |`,
    `| ------ | ${head.map(() => '-----:').join(' | ')} |`,
  ];
  for (const row of MEASURED) {
    const cells = systems.flatMap(([name, figures]) => {
      const value = show(figures[row.key], row.digits);
      if (!withRatio(name)) return [value];
      return [value, row.key === 'errors' ? '-' : times(figures.vs_bare_proxy[row.key])];
    });
    lines.push(`| ${row.label} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** One line on the accounting check, naming the statuses whose records fall short. */
export function describeAccounting(a: Accounting): string {
  const head = `Accounting: ${a.records} usage records for ${a.answered} requests llm-backend answered (the upstream received ${a.upstreamReceived})`;
  const cut = a.answeredByStatus['499'] ?? 0;
  // A cut request's record is a 499, or a 200 when its usage was committed before it left.
  const cutRecorded =
    (a.byStatus['499'] ?? 0) + (a.byStatus['200'] ?? 0) - (a.answeredByStatus['200'] ?? 0);
  const cutNote =
    cut > 0
      ? ` (${cutRecorded} of the ${cut} requests whose client left first had an upstream answer to record)`
      : '';
  if (a.ok) return `${head}: one record per response${cutNote}.`;
  const short = Object.entries(a.answeredByStatus)
    .filter(([status, n]) => (a.byStatus[status] ?? 0) !== n)
    .map(([status, n]) => `status ${status}: ${n} answered, ${a.byStatus[status] ?? 0} recorded`);
  return `${head}: NOT ONE PER RESPONSE (${short.join('; ')}; ${a.deadLetters} dead letters).`;
}

/** JSON laid out as Biome lays it out (lint checks these files): short scalar arrays on a line. */
export function formatJson(value: unknown): string {
  const text = JSON.stringify(value, null, 2).replace(
    /^( *)("[^"\n]*": )?\[\n([^[\]{}]*?)\n *\]/gm,
    (whole, indent: string, key: string | undefined, items: string) => {
      const line = `${indent}${key ?? ''}[${items
        .split(',\n')
        .map((item) => item.trim())
        .join(', ')}]`;
      return line.length <= 100 ? line : whole;
    },
  );
  return `${text}\n`;
}
