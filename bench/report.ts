/**
 * Turns what was measured into the figures of bench/results/latest.json (one object per
 * system, keys fixed by issue 7) and the markdown table: ours, Portkey's, the ratio, and
 * each target met or not. Added figures are a system's value minus direct's at the same
 * percentile and load, so they exist only when `direct` ran too.
 */
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
  raw: Omit<Measured, 'name'>;
}

const round = (value: number, digits = 3) => Number(value.toFixed(digits));

function errorsOf(m: Measured): number {
  const loads = [m.warm, m.c1, m.c16, m.saturation];
  const streams = [m.s32, m.s256];
  return (
    loads.reduce((sum, r) => sum + r.non2xx + r.errors, 0) +
    streams.reduce((sum, r) => sum + r.errors, 0) +
    (m.hold?.errors ?? 0)
  );
}

export function figuresOf(m: Measured, direct: Measured | undefined): Figures {
  const added = (pick: (x: Measured) => number) =>
    m.name === 'direct' || direct === undefined ? null : round(pick(m) - pick(direct));
  const mb = (value: number | null) => (value === null ? null : round(value, 1));
  const { name: _name, ...raw } = m;
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
    raw,
  };
}

type Key = Exclude<keyof Figures, 'raw'>;

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

export function markdownTable(results: Partial<Record<SystemName, Figures>>): string {
  const ours = results['llm-backend'];
  const portkey = results.portkey;
  const direct = results.direct;
  const lines = [
    '| figure | llm-backend | Portkey | ratio (ours / Portkey) | direct | target | met |',
    '| ------ | ----------: | ------: | ---------------------: | -----: | ------ | --- |',
  ];
  for (const row of ROWS) {
    const a = ours?.[row.key] ?? null;
    const b = portkey?.[row.key] ?? null;
    const ratio = a !== null && b !== null && b !== 0 ? (a / b).toFixed(2) : '-';
    const met = row.target === null || a === null ? null : row.target.met(a, b);
    const verdict = met === null ? '' : met ? 'met' : 'not met';
    const directValue =
      row.key === 'rps' || row.key === 'errors' ? show(direct?.[row.key], row.digits) : '-';
    lines.push(
      `| ${row.label} | ${show(a, row.digits)} | ${show(b, row.digits)} | ${ratio} | ${directValue} | ${row.target?.text ?? ''} | ${verdict} |`,
    );
  }
  return lines.join('\n');
}

/** The measured values themselves, from which the added figures are taken. */
export function rawTable(results: Partial<Record<SystemName, Figures>>): string {
  const lines = [
    '| system | p50 / p99 1c (ms) | p50 / p99 16c (ms) | req/s 64c | TTFT p50 32s / 256s (ms) | stream p50 32s / 256s (ms) |',
    '| ------ | ----------------: | -----------------: | --------: | -----------------------: | -------------------------: |',
  ];
  for (const [name, figures] of Object.entries(results)) {
    const { c1, c16, saturation, s32, s256 } = figures.raw;
    lines.push(
      `| ${name} | ${show(c1.p50, 3)} / ${show(c1.p99, 3)} | ${show(c16.p50, 3)} / ${show(c16.p99, 3)} | ${show(saturation.rps, 0)} | ${show(s32.ttftP50, 3)} / ${show(s256.ttftP50, 3)} | ${show(s32.totalP50, 3)} / ${show(s256.totalP50, 3)} |`,
    );
  }
  return lines.join('\n');
}

/** One line on the accounting check, naming the statuses whose records fall short. */
export function describeAccounting(a: Accounting): string {
  const head = `Accounting: ${a.records} usage records for ${a.answered} requests llm-backend answered (the upstream received ${a.upstreamReceived})`;
  const cut = a.answeredByStatus['499'] ?? 0;
  const cutNote =
    cut > 0
      ? ` (${a.byStatus['499'] ?? 0} of the ${cut} requests whose client left first had an upstream answer to record)`
      : '';
  if (a.ok) return `${head}: one record per response${cutNote}.`;
  const short = Object.entries(a.answeredByStatus)
    .filter(([status, n]) => (a.byStatus[status] ?? 0) !== n)
    .map(([status, n]) => `status ${status}: ${n} answered, ${a.byStatus[status] ?? 0} recorded`);
  return `${head}: NOT ONE PER RESPONSE (${short.join('; ')}; ${a.deadLetters} dead letters).`;
}
