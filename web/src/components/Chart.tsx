import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  values: number[];
}

const COLOURS = ['#1d4ed8', '#b91c1c', '#047857', '#7c3aed', '#b45309', '#0e7490'];

/**
 * A uPlot line chart of values per UTC day, with a text summary for screen readers (the
 * canvas itself says nothing to them).
 */
export function DayChart({
  title,
  days,
  series,
}: {
  title: string;
  days: string[];
  series: Series[];
}) {
  const holder = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = holder.current;
    if (element === null || days.length === 0) return;
    // The x values are the days' positions, labelled with the UTC day itself: uPlot's time
    // axis would label them in the browser's time zone.
    const xs = days.map((_day, index) => index);
    const chart = new uPlot(
      {
        width: Math.max(320, element.clientWidth || 640),
        height: 220,
        series: [
          {},
          ...series.map((one, index) => ({
            label: one.label,
            stroke: COLOURS[index % COLOURS.length],
            width: 2,
          })),
        ],
        scales: { x: { time: false } },
        axes: [
          {
            incrs: [1],
            values: (_plot, splits) => splits.map((split) => days[split]?.slice(5) ?? ''),
          },
          { size: 60 },
        ],
      },
      [xs, ...series.map((one) => one.values)],
      element,
    );
    return () => chart.destroy();
  }, [days, series]);
  const total = (values: number[]) => values.reduce((sum, value) => sum + value, 0);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={holder} aria-hidden="true" />
      <p className="visually-hidden">
        {series.map((one) => `${one.label}: ${total(one.values)} in total`).join('; ')}
      </p>
    </figure>
  );
}
