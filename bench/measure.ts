/**
 * The phases run against one system, in order: warm-up, idle memory, request/response load
 * at 1, 16 and 64 connections, streams at 32 and 256, then 1,000 held streams while its
 * memory is sampled. Systems run one after another, never at once.
 */
import type { Worker } from './children.js';
import { listenOverflows, rssMb } from './children.js';
import type { Accounting, Counters } from './llm-backend.js';
import type {
  HoldResult,
  LoadResult,
  StreamResult,
  Target,
  UpstreamCount,
  UpstreamProfile,
} from './protocol.js';
import type { RunningSystem, SystemName } from './systems.js';

export interface Plan {
  mode: 'quick' | 'full';
  warmSec: number;
  latencySec: number;
  saturationSec: number;
  saturationConnections: number;
  /** Streams each loop runs at 32 and at 256 concurrent streams. */
  rounds32: number;
  rounds256: number;
  /** The upstream's stream for the streaming phases. */
  stream: UpstreamProfile;
  holdCount: number;
  /** The upstream's stream while 1,000 are held open: long gaps keep them open. */
  hold: UpstreamProfile;
}

export const PLANS: Record<Plan['mode'], Plan> = {
  quick: {
    mode: 'quick',
    warmSec: 2,
    latencySec: 3,
    saturationSec: 3,
    saturationConnections: 64,
    rounds32: 5,
    rounds256: 2,
    stream: { latencyMs: 0, chunks: 10, gapMs: 10 },
    holdCount: 1000,
    hold: { latencyMs: 0, chunks: 2, gapMs: 3000 },
  },
  full: {
    mode: 'full',
    warmSec: 10,
    latencySec: 20,
    saturationSec: 30,
    saturationConnections: 64,
    rounds32: 40,
    rounds256: 8,
    stream: { latencyMs: 0, chunks: 10, gapMs: 10 },
    holdCount: 1000,
    hold: { latencyMs: 0, chunks: 2, gapMs: 8000 },
  },
};

export interface Workers {
  upstream: Worker;
  load: Worker;
  streams: Worker;
}

export interface Measured {
  name: SystemName;
  warm: LoadResult;
  c1: LoadResult;
  c16: LoadResult;
  saturation: LoadResult;
  s32: StreamResult;
  s256: StreamResult;
  hold: (HoldResult & { open: number }) | null;
  rssStart: number | null;
  rssIdle: number | null;
  rss1000: number | null;
  accounting: Accounting | null;
  /** Per phase: what our gateway logged above info, by message, and accept queue overflows. */
  logs: Record<string, Record<string, number>>;
  /** Our gateway: Redis commands and PostgreSQL transactions per request at 1 connection. */
  io1c: Io | null;
}

export interface Io {
  redis: number;
  redisByCommand: Record<string, number>;
  postgres: Record<string, number>;
}

function delta(after: Record<string, number>, before: Record<string, number>, n: number) {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(after)) {
    const per = (value - (before[name] ?? 0)) / n;
    if (per > 0.005) out[name] = Number(per.toFixed(2));
  }
  return out;
}

/** What one request cost in Redis commands and PostgreSQL transactions, on average. */
async function perRequest(system: RunningSystem, before: Counters, requests: number) {
  await sleep(1200);
  const after = await system.counters();
  if (after === null || requests === 0) return null;
  const { info: _info, ...redisByCommand } = delta(after.commands, before.commands, requests);
  const redis = Object.values(redisByCommand).reduce((sum, n) => sum + n, 0);
  return {
    redis: Number(redis.toFixed(2)),
    redisByCommand,
    postgres: delta(after.transactions, before.transactions, requests),
  };
}

export function describeIo(io: Io): string {
  const list = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([name, n]) => `${name} ${n}`)
      .join(', ') || 'none';
  return `${io.redis} Redis commands run, those inside Lua scripts included (${list(io.redisByCommand)}); PostgreSQL transactions: ${list(io.postgres)}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function load(workers: Workers, target: Target, connections: number, durationSec: number) {
  return workers.load.run<LoadResult>({
    kind: 'load',
    request: { target, connections, durationSec },
  });
}

function streams(
  workers: Workers,
  plan: Plan,
  target: Target,
  concurrency: number,
  rounds: number,
) {
  const { latencyMs, chunks, gapMs } = plan.stream;
  return workers.streams.run<StreamResult>({
    kind: 'streams',
    request: { target, concurrency, rounds, spreadMs: latencyMs + (chunks - 1) * gapMs },
  });
}

function profile(workers: Workers, profile: UpstreamProfile) {
  return workers.upstream.run({ kind: 'profile', profile });
}

/** Memory with `count` streams open at once: the largest of a few samples. */
async function held(workers: Workers, system: RunningSystem, plan: Plan) {
  const pid = system.pid;
  if (pid === null) return { hold: null, rss: null };
  await profile(workers, plan.hold);
  let samples: Promise<number> | null = null;
  let open = 0;
  const done = workers.streams.run<HoldResult>(
    { kind: 'hold', request: { target: system.target, count: plan.holdCount } },
    (opened) => {
      open = opened.opened;
      samples = (async () => {
        let most = 0;
        for (let i = 0; i < 5; i++) {
          await sleep(200);
          most = Math.max(most, rssMb(pid));
        }
        return most;
      })();
    },
  );
  const hold = await done;
  await profile(workers, plan.stream);
  const rss: number | null = samples === null ? null : await samples;
  return { hold: { ...hold, open }, rss };
}

export type Logger = (line: string) => void;

const fmt = (value: number | null, digits = 1) => (value === null ? '-' : value.toFixed(digits));

/**
 * Runs one phase and says how it went, then what the gateway logged above info meanwhile
 * and how often a listening socket's accept queue overflowed (any process's).
 */
async function phase<T>(
  name: string,
  system: RunningSystem,
  logs: Record<string, Record<string, number>>,
  log: Logger,
  run: () => Promise<T>,
  describe: (result: T) => string,
): Promise<T> {
  const overflows = listenOverflows();
  const result = await run();
  log(describe(result));
  // A pause between phases: what the gateway still has queued settles (and logs) first.
  await sleep(300);
  const counts = system.logs();
  const dropped = listenOverflows() - overflows;
  if (dropped > 0) counts['accept queue overflows (a SYN dropped, retried after 1 s+)'] = dropped;
  if (Object.keys(counts).length > 0) {
    logs[name] = counts;
    for (const [line, count] of Object.entries(counts)) log(`  ${count} × ${line}`);
  }
  return result;
}

export async function measure(
  system: RunningSystem,
  workers: Workers,
  plan: Plan,
  log: Logger,
): Promise<Measured> {
  const { target, pid } = system;
  const rss = () => (pid === null ? null : rssMb(pid));
  const logs: Record<string, Record<string, number>> = {};
  const step = <T>(name: string, run: () => Promise<T>, describe: (result: T) => string) =>
    phase(name, system, logs, log, run, describe);
  system.logs();
  const rssStart = rss();
  const received = async () =>
    (await workers.upstream.run<UpstreamCount>({ kind: 'count' })).requests;
  const receivedBefore = await received();
  await profile(workers, plan.stream);
  let rssIdle: number | null = null;
  const warm = await step(
    'warm-up',
    async () => {
      const result = await load(workers, target, 16, plan.warmSec);
      await streams(workers, plan, target, 32, 2);
      await sleep(1000);
      rssIdle = rss();
      return result;
    },
    (r) => `warmed up (${Math.round(r.rps)} req/s at 16 connections); idle ${fmt(rssIdle)} MB`,
  );
  const latency = (r: LoadResult) =>
    `${r.connections} connection(s): p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms, ${Math.round(r.rps)} req/s`;
  const before = await system.counters();
  const c1 = await step('1c', () => load(workers, target, 1, plan.latencySec), latency);
  const io1c = before === null ? null : await perRequest(system, before, c1.ok + c1.non2xx);
  if (io1c !== null) log(`  per request: ${describeIo(io1c)}`);
  const c16 = await step('16c', () => load(workers, target, 16, plan.latencySec), latency);
  const { saturationConnections: connections, saturationSec } = plan;
  const saturation = await step(
    `${connections}c`,
    () => load(workers, target, connections, saturationSec),
    latency,
  );
  const streamed = (r: StreamResult) =>
    `${r.concurrency} streams: TTFT p50 ${r.ttftP50.toFixed(3)} ms, p99 ${r.ttftP99.toFixed(3)} ms; stream p50 ${r.totalP50.toFixed(3)} ms`;
  const s32 = await step('32s', () => streams(workers, plan, target, 32, plan.rounds32), streamed);
  const s256 = await step(
    '256s',
    () => streams(workers, plan, target, 256, plan.rounds256),
    streamed,
  );
  const { hold, rss: rss1000 } = await step(
    `${plan.holdCount}s`,
    () => held(workers, system, plan),
    (r) =>
      r.hold === null
        ? 'no process to sample'
        : `${plan.holdCount} streams held (${r.hold.open} open at once): ${fmt(r.rss)} MB`,
  );
  const accounting = await system.accounting((await received()) - receivedBefore);
  if (accounting !== null) {
    log(
      `accounting: ${accounting.records} usage records for ${accounting.answered} requests answered (${accounting.ok ? 'equal' : 'NOT EQUAL'}); answered by status ${JSON.stringify(accounting.answeredByStatus)}, upstream received ${accounting.upstreamReceived}, records by status ${JSON.stringify(accounting.byStatus)}, ${accounting.deadLetters} dead letters, ${accounting.waitedMs} ms to catch up`,
    );
  }
  return {
    name: system.name,
    warm,
    c1,
    c16,
    saturation,
    s32,
    s256,
    hold,
    rssStart,
    rssIdle,
    rss1000,
    accounting,
    logs,
    io1c,
  };
}
