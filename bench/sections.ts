/**
 * The parts of the results that only our gateway has: what a request costs in Redis
 * commands (and PostgreSQL transactions), phase by phase, and the cache phase.
 */
import { topCommands } from './io.js';
import { type Figures, ratio } from './report.js';

const list = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ') || 'none';

/** The Redis commands per request, amortized and by phase, as markdown. */
export function redisSection(ours: Figures | undefined): string {
  if (ours === undefined || ours.redis_commands_per_request === null) return '';
  const top = topCommands(ours.redis_top_commands ?? {});
  const phases = Object.entries(ours.raw.io);
  const others = Math.max(0, ...phases.map(([, io]) => io.otherClients));
  const lines = [
    `Redis commands per request, llm-backend: ${ours.redis_commands_per_request} amortized over the measured phases, background work included (most frequent: ${top}). \`INFO commandstats\` of its Redis, read at each phase boundary; commands run inside Lua scripts count one by one.`,
    ...(others > 0
      ? [
          '',
          `Other clients used that Redis server meanwhile (up to ${others} connections on other databases): their commands are in these counts too.`,
        ]
      : []),
    '',
    '| phase | requests | Redis commands / request | most frequent | PostgreSQL transactions / request |',
    '| ----- | -------: | -----------------------: | ------------- | --------------------------------- |',
    ...phases.map(
      ([phase, io]) =>
        `| ${phase} | ${io.requests} | ${io.redis} | ${topCommands(io.redisByCommand)} | ${list(io.postgres)} |`,
    ),
  ];
  return lines.join('\n');
}

/** The cache phase's figures next to direct's and the bare proxy's, or why it did not run. */
export function cacheSection(
  ours: Figures | undefined,
  direct: Figures | undefined,
  bare: Figures | undefined,
): string {
  const cache = ours?.cache;
  if (cache === null || cache === undefined) return '';
  if (!cache.available) return `Cache phase: not available (${cache.reason}).`;
  const rows: [string, number, number | undefined, number | undefined, number][] = [
    ['latency p50, 1 connection (ms)', cache.hit_p50_ms_1c, direct?.p50_ms_1c, bare?.p50_ms_1c, 3],
    ['latency p99, 1 connection (ms)', cache.hit_p99_ms_1c, direct?.p99_ms_1c, bare?.p99_ms_1c, 3],
    [
      'requests/s at saturation',
      cache.hit_rps,
      direct?.rps ?? undefined,
      bare?.rps ?? undefined,
      0,
    ],
  ];
  const show = (value: number | null | undefined, digits: number) =>
    value === null || value === undefined ? '-' : value.toFixed(digits);
  return [
    `Cache phase, llm-backend: the same request again and again with the tenant's response cache on (${cache.upstream_calls} of them reached the upstream).`,
    '',
    '| figure | cache hit | direct | hit / direct | hit − direct | bare proxy | hit / bare |',
    '| ------ | --------: | -----: | -----------: | -----------: | ---------: | ---------: |',
    ...rows.map(([label, hit, d, b, digits]) => {
      // A difference of throughputs says nothing a ratio does not: latencies only.
      const minus = d === undefined || label.startsWith('requests') ? null : hit - d;
      return `| ${label} | ${show(hit, digits)} | ${show(d, digits)} | ${show(ratio(hit, d), 2)} | ${show(minus, digits)} | ${show(b, digits)} | ${show(ratio(hit, b), 2)} |`;
    }),
  ].join('\n');
}
