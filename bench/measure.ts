/**
 * The phases run against one system, in order: warm-up, idle memory, request/response load
 * at 1, 16 and 64 connections, streams at 32 and 256, then 1,000 held streams while its
 * memory is sampled. Systems run one after another, never at once.
 */
import { type CacheMeasured, measureCache, type Step } from './cache-phase.js';
import type { Worker } from './children.js';
import { listenOverflows, rssMb } from './children.js';
import { describeIo, type Io, ioBetween } from './io.js';
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
  /** Our gateway: Redis commands and PostgreSQL transactions per request, by phase. */
  io: Record<string, Io>;
  /** Our gateway: its response cache's hits, or why they were not measured. */
  cache: CacheMeasured | null;
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
 * Long enough for PostgreSQL's statistics (up to a second late), the usage workers, and the
 * ledger's syncs: idle capacity goes back after 250 ms, a lease ends after a second.
 */
const SETTLE_MS = 1500;

/**
 * Runs one phase and says how it went, then what the gateway logged above info meanwhile,
 * how often a listening socket's accept queue overflowed (any process's) and, for our
 * gateway, what each request served cost in Redis commands and PostgreSQL transactions.
 */
function stepper(system: RunningSystem, measured: Pick<Measured, 'logs' | 'io'>, log: Logger) {
  let mark: Counters | null = null;
  const step: Step = async (name, run, describe, served) => {
    const overflows = listenOverflows();
    mark ??= await system.counters();
    const result = await run();
    log(describe(result));
    // A pause between phases: what the gateway still has queued settles (and logs) first.
    await sleep(mark === null ? 300 : SETTLE_MS);
    const counts = system.logs();
    const dropped = listenOverflows() - overflows;
    if (dropped > 0) counts['accept queue overflows (a SYN dropped, retried after 1 s+)'] = dropped;
    if (Object.keys(counts).length > 0) {
      measured.logs[name] = counts;
      for (const [line, count] of Object.entries(counts)) log(`  ${count} × ${line}`);
    }
    if (mark !== null) {
      // This reading closes this phase and opens the next: nothing in between is lost.
      const now = await system.counters();
      const io = now === null ? null : ioBetween(mark, now, served(result));
      mark = now;
      if (io !== null) {
        measured.io[name] = io;
        log(`  per request: ${describeIo(io)}`);
      }
    }
    return result;
  };
  return step;
}

export async function measure(
  system: RunningSystem,
  workers: Workers,
  plan: Plan,
  log: Logger,
): Promise<Measured> {
  const { target, pid } = system;
  const rss = () => (pid === null ? null : rssMb(pid));
  const recorded: Pick<Measured, 'logs' | 'io'> = { logs: {}, io: {} };
  const step = stepper(system, recorded, log);
  const loaded = (r: LoadResult) => r.ok + r.non2xx;
  const streamed = (r: StreamResult) => r.streams;
  system.logs();
  const rssStart = rss();
  const received = async () =>
    (await workers.upstream.run<UpstreamCount>({ kind: 'count' })).requests;
  const receivedBefore = await received();
  await profile(workers, plan.stream);
  let rssIdle: number | null = null;
  let warmStreams = 0;
  const warm = await step(
    'warm-up',
    async () => {
      const result = await load(workers, target, 16, plan.warmSec);
      warmStreams = (await streams(workers, plan, target, 32, 2)).streams;
      await sleep(1000);
      rssIdle = rss();
      return result;
    },
    (r) => `warmed up (${Math.round(r.rps)} req/s at 16 connections); idle ${fmt(rssIdle)} MB`,
    (r) => loaded(r) + warmStreams,
  );
  const latency = (r: LoadResult) =>
    `${r.connections} connection(s): p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms, ${Math.round(r.rps)} req/s`;
  const c1 = await step('1c', () => load(workers, target, 1, plan.latencySec), latency, loaded);
  const c16 = await step('16c', () => load(workers, target, 16, plan.latencySec), latency, loaded);
  const { saturationConnections: connections, saturationSec } = plan;
  const saturation = await step(
    `${connections}c`,
    () => load(workers, target, connections, saturationSec),
    latency,
    loaded,
  );
  const timed = (r: StreamResult) =>
    `${r.concurrency} streams: TTFT p50 ${r.ttftP50.toFixed(3)} ms, p99 ${r.ttftP99.toFixed(3)} ms; stream p50 ${r.totalP50.toFixed(3)} ms`;
  const s32 = await step(
    '32s',
    () => streams(workers, plan, target, 32, plan.rounds32),
    timed,
    streamed,
  );
  const s256 = await step(
    '256s',
    () => streams(workers, plan, target, 256, plan.rounds256),
    timed,
    streamed,
  );
  const { hold, rss: rss1000 } = await step(
    `${plan.holdCount}s`,
    () => held(workers, system, plan),
    (r) =>
      r.hold === null
        ? 'no process to sample'
        : `${plan.holdCount} streams held (${r.hold.open} open at once): ${fmt(r.rss)} MB`,
    (r) => r.hold?.count ?? 0,
  );
  const cache =
    system.cache === null
      ? null
      : await measureCache(system.cache, {
          step,
          load: (n, sec) => load(workers, target, n, sec),
          received,
          latencySec: plan.latencySec,
          saturationSec,
          saturationConnections: connections,
          describe: latency,
        });
  if (cache !== null && !cache.available) log(`cache phase: not available (${cache.reason})`);
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
    cache,
    ...recorded,
  };
}
