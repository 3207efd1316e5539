/**
 * Messages between the harness (bench/main.ts) and its child processes: the fake upstream,
 * the autocannon load generator and the streaming client. Each child is forked once per
 * run and answers one request at a time over the IPC channel.
 */

/** How the fake upstream answers; changed between phases, never during one. */
export interface UpstreamProfile {
  /** Delay before a response, or before a stream's first chunk (ms). */
  latencyMs: number;
  /** Content chunks in a stream (a usage chunk and `[DONE]` follow). */
  chunks: number;
  /** Pause between two content chunks (ms). */
  gapMs: number;
}

/** Where and how to call a system: the same body goes to every system. */
export interface Target {
  url: string;
  headers: Record<string, string>;
}

export interface LoadRequest {
  target: Target;
  connections: number;
  durationSec: number;
}

export interface LoadResult {
  connections: number;
  durationSec: number;
  /** 2xx responses per second over the run. */
  rps: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Latency of 2xx responses (ms, microsecond precision). */
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

export interface StreamRequest {
  target: Target;
  concurrency: number;
  /** Streams each of the `concurrency` loops runs one after another. */
  rounds: number;
  /**
   * The loops start evenly spread over this long (about one stream's length), so streams
   * arrive steadily rather than in waves of `concurrency` at once.
   */
  spreadMs: number;
}

export interface StreamResult {
  concurrency: number;
  streams: number;
  errors: number;
  /** Time to the first byte of the response body (ms). */
  ttftP50: number;
  ttftP99: number;
  /** Time to the end of the response body (ms). */
  totalP50: number;
  totalP99: number;
}

/** Holds `count` streams open: reports `opened` once every one has its first byte. */
export interface HoldRequest {
  target: Target;
  count: number;
}

export interface HoldResult {
  count: number;
  errors: number;
}

/** Chat requests the upstream has received since it started. */
export interface UpstreamCount {
  requests: number;
}

/** What the harness sends: one command, answered by one `done` or `failed`. */
export type Command =
  | { kind: 'profile'; profile: UpstreamProfile }
  | { kind: 'count' }
  | { kind: 'load'; request: LoadRequest }
  | { kind: 'streams'; request: StreamRequest }
  | { kind: 'hold'; request: HoldRequest };

export type Reply =
  | { kind: 'ready'; port?: number }
  | { kind: 'opened'; opened: number; errors: number }
  | { kind: 'done'; result: LoadResult | StreamResult | HoldResult | UpstreamCount | null }
  | { kind: 'failed'; message: string };

/** The request every system gets: short, and capped so token limits see a small reservation. */
export function requestBody(stream: boolean): string {
  return JSON.stringify({
    model: 'bench-model',
    messages: [{ role: 'user', content: 'Say hello in one short sentence.' }],
    max_tokens: 32,
    ...(stream && { stream: true, stream_options: { include_usage: true } }),
  });
}

/** Sorted ascending: the value at or below which `p` percent of the samples fall. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

/** Replies to the parent over IPC; a forked child always has `process.send`. */
export function reply(message: Reply): void {
  process.send?.(message);
}

/** Runs each command the parent sends, one at a time, and answers with its result. */
export function serveCommands(
  handle: (
    command: Command,
  ) => Promise<LoadResult | StreamResult | HoldResult | UpstreamCount | null>,
): void {
  process.on('message', (command: Command) => {
    handle(command).then(
      (result) => reply({ kind: 'done', result }),
      (error: unknown) => reply({ kind: 'failed', message: String(error) }),
    );
  });
  // The parent went away (killed, crashed): nothing is left to answer.
  process.on('disconnect', () => process.exit(0));
}
