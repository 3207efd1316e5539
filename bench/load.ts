/**
 * The request/response load generator: autocannon, in its own process (forked by the
 * harness), one run per command. autocannon's own histogram keeps whole milliseconds, too
 * coarse for sub-millisecond overheads, so every 2xx latency is also kept from its
 * `response` event (hrtime, microseconds) and the percentiles are computed from those.
 */
import autocannon from 'autocannon';
import {
  type LoadRequest,
  type LoadResult,
  percentile,
  requestBody,
  serveCommands,
} from './protocol.js';

const BODY = requestBody(false);

async function run(request: LoadRequest): Promise<LoadResult> {
  const { target, connections, durationSec } = request;
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const options = {
      url: target.url,
      method: 'POST' as const,
      headers: { 'content-type': 'application/json', ...target.headers },
      body: BODY,
      connections,
      pipelining: 1,
      duration: durationSec,
      timeout: 10,
    };
    const instance = autocannon(options, (error, done) => (error ? reject(error) : resolve(done)));
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode < 200 || statusCode > 299) return;
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = responseTime;
    });
  });
  const sorted = latencies.subarray(0, count).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    connections,
    durationSec: result.duration,
    rps: result['2xx'] / result.duration,
    ok: result['2xx'],
    non2xx: result.non2xx,
    // autocannon's errors include its timeouts.
    errors: result.errors,
    timeouts: result.timeouts,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    mean: count === 0 ? Number.NaN : sum / count,
  };
}

serveCommands(async (command) => {
  if (command.kind !== 'load') throw new Error(`the load generator does not run '${command.kind}'`);
  return run(command.request);
});
