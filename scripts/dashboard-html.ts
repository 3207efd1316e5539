/**
 * Draws Grafana dashboards from Prometheus answers as one HTML page of inline SVG, laid out on
 * the dashboards' own 24-column grid: a stand-in for Grafana where it cannot run, so the docs
 * can show each panel with real data. Time series, state timelines, stats, bar gauges and
 * tables are drawn; anything else as a time series.
 */

export interface Series {
  name: string;
  /** The series' labels (tables show them as columns) and the target's legend (the value column). */
  labels: Record<string, string>;
  column: string;
  points: [number, number][];
}

export interface RenderedPanel {
  title: string;
  type: string;
  unit: string;
  gridPos: { x: number; y: number; w: number; h: number };
  series: Series[];
}

const COLORS = [
  '#73bf69',
  '#f2cc0c',
  '#8ab8ff',
  '#ff780a',
  '#f2495c',
  '#5794f2',
  '#b877d9',
  '#fade2a',
  '#96d98d',
  '#ff9830',
];
const ROW_PX = 30;
const WIDTH_PX = 1600;

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c,
  );

/** A value as Grafana would show it in the panel's unit. */
export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return String(value);
  const fixed = (n: number, suffix: string) =>
    `${n.toFixed(Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2)}${suffix}`;
  switch (unit) {
    case 's':
      return value < 1 ? fixed(value * 1000, ' ms') : fixed(value, ' s');
    case 'percentunit':
      return fixed(value * 100, '%');
    case 'currencyUSD':
      return `$${value.toFixed(value >= 100 ? 0 : value >= 1 ? 2 : 4)}`;
    case 'bytes':
      return value >= 2 ** 30 ? fixed(value / 2 ** 30, ' GiB') : fixed(value / 2 ** 20, ' MiB');
    case 'reqps':
      return fixed(value, ' req/s');
    default:
      return Math.abs(value) >= 1000 ? fixed(value / 1000, 'K') : fixed(value, '');
  }
}

function timeSeries(panel: RenderedPanel, width: number, height: number): string {
  const pad = { left: 64, right: 8, top: 6, bottom: 20 };
  const legendRows = Math.min(panel.series.length, 4);
  const plotH = height - pad.top - pad.bottom - legendRows * 14;
  const plotW = width - pad.left - pad.right;
  const points = panel.series.flatMap((s) => s.points).filter(([, v]) => Number.isFinite(v));
  if (points.length === 0)
    return `<text x="${width / 2}" y="${height / 2}" class="empty">No data</text>`;
  const times = points.map(([t]) => t);
  const values = points.map(([, v]) => v);
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  const v0 = Math.min(0, ...values);
  const v1 = Math.max(...values) > v0 ? Math.max(...values) * 1.1 : v0 + 1;
  const x = (t: number) => pad.left + ((t - t0) / (t1 - t0 || 1)) * plotW;
  const y = (v: number) => pad.top + plotH - ((v - v0) / (v1 - v0)) * plotH;
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const v = v0 + (v1 - v0) * f;
      return `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(v)}" y2="${y(v)}" class="grid"/><text x="${pad.left - 4}" y="${y(v) + 4}" class="axis" text-anchor="end">${escapeHtml(formatValue(v, panel.unit))}</text>`;
    })
    .join('');
  const ticks = [0, 0.5, 1]
    .map((f) => {
      const t = t0 + (t1 - t0) * f;
      const label = new Date(t * 1000).toISOString().slice(11, 19);
      const anchor = f === 0 ? 'start' : f === 1 ? 'end' : 'middle';
      return `<text x="${x(t)}" y="${pad.top + plotH + 14}" class="axis" text-anchor="${anchor}">${label}</text>`;
    })
    .join('');
  const lines = panel.series
    .map((s, i) => {
      const path = s.points
        .filter(([, v]) => Number.isFinite(v))
        .map(([t, v], j) => `${j === 0 ? 'M' : 'L'}${x(t).toFixed(1)},${y(v).toFixed(1)}`)
        .join('');
      return `<path d="${path}" stroke="${COLORS[i % COLORS.length]}" class="line"/>`;
    })
    .join('');
  const legend = panel.series
    .slice(0, legendRows)
    .map((s, i) => {
      const last = s.points.at(-1)?.[1] ?? Number.NaN;
      const more =
        i === legendRows - 1 && panel.series.length > legendRows
          ? ` (+${panel.series.length - legendRows} more)`
          : '';
      return `<rect x="${pad.left}" y="${pad.top + plotH + 24 + i * 14}" width="10" height="3" fill="${COLORS[i % COLORS.length]}"/><text x="${pad.left + 14}" y="${pad.top + plotH + 29 + i * 14}" class="legend">${escapeHtml(s.name)}  ${escapeHtml(formatValue(last, panel.unit))}${more}</text>`;
    })
    .join('');
  return grid + ticks + lines + legend;
}

function stateTimeline(panel: RenderedPanel, width: number, height: number): string {
  const states: Record<number, [string, string]> = {
    0: ['closed', '#73bf69'],
    1: ['half-open', '#ff9830'],
    2: ['open', '#f2495c'],
  };
  const rowH = Math.min(28, (height - 20) / Math.max(1, panel.series.length));
  const times = panel.series.flatMap((s) => s.points.map(([t]) => t));
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  const left = 170;
  const x = (t: number) => left + ((t - t0) / (t1 - t0 || 1)) * (width - left - 8);
  return panel.series
    .map((s, row) => {
      const top = 4 + row * rowH;
      const cells = s.points
        .map(([t, v], j) => {
          const next = s.points[j + 1]?.[0] ?? t1;
          const [, color] = states[v] ?? ['?', '#888'];
          return `<rect x="${x(t)}" y="${top}" width="${Math.max(1, x(next) - x(t))}" height="${rowH - 4}" fill="${color}"/>`;
        })
        .join('');
      const last = states[s.points.at(-1)?.[1] ?? -1]?.[0] ?? '';
      return `<text x="4" y="${top + rowH / 2 + 2}" class="legend">${escapeHtml(s.name)} (${last})</text>${cells}`;
    })
    .join('');
}

function barGauge(panel: RenderedPanel, width: number, height: number): string {
  const rows = panel.series.map((s) => ({ name: s.name, value: s.points.at(-1)?.[1] ?? 0 }));
  const max = panel.unit === 'percentunit' ? 1 : Math.max(1e-9, ...rows.map((r) => r.value));
  const rowH = Math.min(26, (height - 8) / Math.max(1, rows.length));
  const left = 220;
  return rows
    .map((r, i) => {
      const top = 4 + i * rowH;
      const w = Math.min(1, r.value / max) * (width - left - 90);
      const color =
        panel.unit === 'percentunit'
          ? r.value >= 1
            ? '#f2495c'
            : r.value >= 0.8
              ? '#ff9830'
              : '#73bf69'
          : COLORS[i % COLORS.length];
      return `<text x="4" y="${top + rowH / 2 + 3}" class="legend">${escapeHtml(r.name)}</text><rect x="${left}" y="${top}" width="${width - left - 90}" height="${rowH - 6}" class="track"/><rect x="${left}" y="${top}" width="${w}" height="${rowH - 6}" fill="${color}"/><text x="${width - 84}" y="${top + rowH / 2 + 3}" class="value">${escapeHtml(formatValue(r.value, panel.unit))}</text>`;
    })
    .join('');
}

function stat(panel: RenderedPanel, width: number, height: number): string {
  const value = panel.series[0]?.points.at(-1)?.[1] ?? Number.NaN;
  return `<text x="${width / 2}" y="${height / 2 + 16}" class="stat" text-anchor="middle">${escapeHtml(formatValue(value, panel.unit))}</text>`;
}

/** As Grafana's merge transformation: one row per label set, one column per target. */
function table(panel: RenderedPanel): string {
  const labelNames = [...new Set(panel.series.flatMap((s) => Object.keys(s.labels)))].filter(
    (name) => name !== '__name__' && name !== 'job',
  );
  const columns = [...new Set(panel.series.map((s) => s.column))];
  const rows = new Map<string, Record<string, string>>();
  for (const s of panel.series) {
    const key = labelNames.map((name) => s.labels[name] ?? '').join('\u0000');
    const row =
      rows.get(key) ?? Object.fromEntries(labelNames.map((name) => [name, s.labels[name] ?? '']));
    row[`\u0001${s.column}`] = formatValue(
      s.points.at(-1)?.[1] ?? Number.NaN,
      s.column === 'USD' ? 'currencyUSD' : panel.unit,
    );
    rows.set(key, row);
  }
  const head = [...labelNames, ...columns].map((name) => `<th>${escapeHtml(name)}</th>`).join('');
  const body = [...rows.values()]
    .map(
      (row) =>
        `<tr>${[...labelNames, ...columns.map((c) => `\u0001${c}`)].map((name) => `<td>${escapeHtml(row[name] ?? '')}</td>`).join('')}</tr>`,
    )
    .join('');
  return `<table><tr>${head}</tr>${body}</table>`;
}

function panelHtml(panel: RenderedPanel): string {
  const { x, y, w, h } = panel.gridPos;
  const box = `left:${(x / 24) * WIDTH_PX}px;top:${y * ROW_PX}px;width:${(w / 24) * WIDTH_PX - 8}px;height:${h * ROW_PX - 8}px`;
  if (panel.type === 'row')
    return `<div class="row" style="${box}">${escapeHtml(panel.title)}</div>`;
  const width = (w / 24) * WIDTH_PX - 8 - 16;
  const height = h * ROW_PX - 8 - 34;
  const body =
    panel.type === 'table'
      ? table(panel)
      : `<svg width="${width}" height="${height}">${
          panel.type === 'state-timeline'
            ? stateTimeline(panel, width, height)
            : panel.type === 'bargauge'
              ? barGauge(panel, width, height)
              : panel.type === 'stat'
                ? stat(panel, width, height)
                : timeSeries(panel, width, height)
        }</svg>`;
  return `<div class="panel" style="${box}"><div class="title">${escapeHtml(panel.title)}</div>${body}</div>`;
}

export function dashboardHtml(title: string, panels: RenderedPanel[]): string {
  const bottom = Math.max(...panels.map((p) => p.gridPos.y + p.gridPos.h));
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#111217;color:#ccccdc;font:12px Inter,Helvetica,Arial,sans-serif}
h1{font-size:18px;font-weight:500;margin:12px 16px}
.grid{position:relative;margin:0 8px;width:${WIDTH_PX}px;height:${bottom * ROW_PX}px}
.panel{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:2px;padding:4px 8px;box-sizing:border-box;overflow:hidden}
.row{position:absolute;font-size:14px;font-weight:500;padding-top:6px}
.title{font-size:13px;font-weight:500;margin-bottom:6px;white-space:nowrap}
.grid line.grid{stroke:#2c3235}.line{fill:none;stroke-width:1.5}
.axis{fill:#8e8e8e;font-size:10px}.legend{fill:#ccccdc;font-size:11px}.value{fill:#ccccdc;font-size:12px}
.stat{fill:#73bf69;font-size:40px;font-weight:500}.empty{fill:#8e8e8e;font-size:14px;text-anchor:middle}
.track{fill:#22252b}table{width:100%;border-collapse:collapse}td,th{border-bottom:1px solid #2c3235;padding:3px;text-align:left}th{color:#6e9fff;font-weight:500}
</style></head><body><h1>${escapeHtml(title)}</h1><div class="grid">${panels.map(panelHtml).join('')}</div></body></html>`;
}
