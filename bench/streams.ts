/**
 * The streaming client: undici, in its own process (forked by the harness). `streams` keeps
 * `concurrency` streams in flight, each loop starting its next stream when one ends, and
 * times each one: to the first byte of the body (TTFT) and to its end. `hold` opens `count`
 * streams at once, says when every one has its first byte, and waits for them to end.
 * A stream counts as an error unless it answers 2xx and ends with `data: [DONE]`.
 */
import { Agent, request } from 'undici';
import {
  type HoldRequest,
  type HoldResult,
  percentile,
  reply,
  requestBody,
  type StreamRequest,
  type StreamResult,
  serveCommands,
  type Target,
} from './protocol.js';

const BODY = requestBody(true);
const agent = new Agent({
  connections: null,
  pipelining: 1,
  headersTimeout: 30_000,
  bodyTimeout: 60_000,
  keepAliveTimeout: 30_000,
});

interface Timing {
  ttft: number;
  total: number;
}

/** One stream; resolves with its timings, or null when it failed. */
async function once(target: Target, onFirstByte?: () => void): Promise<Timing | null> {
  const started = performance.now();
  try {
    const { statusCode, body } = await request(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...target.headers },
      body: BODY,
      dispatcher: agent,
    });
    let ttft = -1;
    let tail = '';
    for await (const part of body as AsyncIterable<Buffer>) {
      if (ttft < 0) {
        ttft = performance.now() - started;
        onFirstByte?.();
      }
      tail = (tail + part.toString('utf8')).slice(-64);
    }
    const total = performance.now() - started;
    if (statusCode < 200 || statusCode > 299 || !tail.includes('data: [DONE]')) return null;
    return { ttft, total };
  } catch {
    return null;
  }
}

async function streams(request: StreamRequest): Promise<StreamResult> {
  const { target, concurrency, rounds, spreadMs } = request;
  const timings: Timing[] = [];
  let errors = 0;
  const loop = async (_: unknown, index: number) => {
    await new Promise((resolve) => setTimeout(resolve, (index * spreadMs) / concurrency));
    for (let i = 0; i < rounds; i++) {
      const timing = await once(target);
      if (timing === null) errors++;
      else timings.push(timing);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const ttft = Float64Array.from(timings, (t) => t.ttft).sort();
  const total = Float64Array.from(timings, (t) => t.total).sort();
  return {
    concurrency,
    streams: timings.length + errors,
    errors,
    ttftP50: percentile(ttft, 50),
    ttftP99: percentile(ttft, 99),
    totalP50: percentile(total, 50),
    totalP99: percentile(total, 99),
  };
}

async function hold({ target, count }: HoldRequest): Promise<HoldResult> {
  // `settled`: streams that have their first byte, or failed before it. Once all have,
  // `opened` goes out with how many are open at that moment.
  let settled = 0;
  let open = 0;
  let failedEarly = 0;
  let errors = 0;
  const mark = () => {
    if (++settled === count) reply({ kind: 'opened', opened: open, errors: failedEarly });
  };
  await Promise.all(
    Array.from({ length: count }, async () => {
      let first = false;
      const timing = await once(target, () => {
        first = true;
        open++;
        mark();
      });
      if (first) open--;
      if (timing !== null) return;
      errors++;
      if (!first) {
        failedEarly++;
        mark();
      }
    }),
  );
  return { count, errors };
}

serveCommands(async (command) => {
  if (command.kind === 'streams') return streams(command.request);
  if (command.kind === 'hold') return hold(command.request);
  throw new Error(`the stream client does not run '${command.kind}'`);
});
