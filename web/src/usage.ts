import type { UsageReport, UsageRow } from './types.js';

/** The report as CSV: one line per row, the groups first, then every measure. */
export function usageCsv(report: UsageReport): string {
  const groups = report.group_by.map((group) =>
    group === 'user' ? 'user_id' : group === 'key' ? 'key_id' : group,
  );
  const measures = [
    'requests',
    'input_tokens',
    'output_tokens',
    'cached_tokens',
    'cost',
    'errors',
    'streamed',
    'cache_hits',
    'saved_tokens',
    'saved_cost',
  ] as const;
  const cell = (value: unknown) => {
    const text = value === null || value === undefined ? '' : String(value);
    return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const line = (row: UsageRow) =>
    [
      ...groups.map((group) => cell(row[group as keyof UsageRow])),
      ...measures.map((measure) => cell(row[measure])),
    ].join(',');
  return `${[[...groups, ...measures].join(','), ...report.data.map(line)].join('\n')}\n`;
}

/** Days × models → one series per model (0 where a day has none), days in order. */
export function perDay(
  rows: UsageRow[],
  measure: (row: UsageRow) => number,
): { days: string[]; series: { label: string; values: number[] }[] } {
  const days = [...new Set(rows.map((row) => row.day ?? ''))].filter(Boolean).sort();
  const models = [...new Set(rows.map((row) => row.model ?? 'all'))].sort();
  const series = models.map((model) => ({
    label: model,
    values: days.map((day) =>
      rows
        .filter((row) => row.day === day && (row.model ?? 'all') === model)
        .reduce((sum, row) => sum + measure(row), 0),
    ),
  }));
  return { days, series };
}

/** The first day of the current UTC month, `YYYY-MM-DD`. */
export function monthStart(now = new Date()): string {
  return `${now.toISOString().slice(0, 7)}-01`;
}
