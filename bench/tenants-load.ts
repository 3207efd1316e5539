/**
 * The pieces of `bench:tenants` that are not about databases: a fake upstream in this
 * process, chat traffic spread over every tenant, and the gateway's own figures.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const COMPLETION = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: Math.floor(Date.now() / 1000),
  model: 'bench-model',
  choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 1, total_tokens: 13 },
});

/** An OpenAI-compatible upstream that answers every chat request at once. */
export async function startUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(COMPLETION);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Runs `task(0..count-1)`, at most `concurrency` at once; the first failure stops the rest. */
export async function inParallel(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let index = next++; index < count; index = next++) await task(index);
  };
  await Promise.all(
    Array.from({ length: Math.min(count, concurrency) }, () =>
      lane().catch((error: unknown) => {
        next = count;
        throw error;
      }),
    ),
  );
}

export function percentiles(values: number[]): { p50: number; p95: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: at(0.5), p95: at(0.95), max: sorted.at(-1) ?? 0 };
}

export interface LoadFigures {
  requests: number;
  answered: number;
  byStatus: Record<string, number>;
  totalMs: number;
  latencyMs: { p50: number; p95: number; max: number };
}

/**
 * `rounds` chat completions per tenant, every tenant once per round in a shuffled order, so
 * each request most likely finds its tenant's pool closed by the cap since its last one.
 */
export async function chatLoad(
  baseUrl: string,
  secrets: string[],
  rounds: number,
  concurrency: number,
  log: (line: string) => void,
): Promise<LoadFigures> {
  const order: string[] = [];
  for (let round = 0; round < rounds; round++) {
    const shuffled = [...secrets].sort(() => Math.random() - 0.5);
    order.push(...shuffled);
  }
  const byStatus: Record<string, number> = {};
  const latencies: number[] = [];
  const started = Date.now();
  await inParallel(order.length, concurrency, async (index) => {
    const begun = performance.now();
    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${order[index]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'bench-model', messages: [{ role: 'user', content: 'hi' }] }),
    });
    await response.arrayBuffer();
    latencies.push(performance.now() - begun);
    byStatus[response.status] = (byStatus[response.status] ?? 0) + 1;
    if ((index + 1) % 1000 === 0) log(`requests ${index + 1}/${order.length}`);
  });
  return {
    requests: order.length,
    answered: byStatus['200'] ?? 0,
    byStatus,
    totalMs: Date.now() - started,
    latencyMs: percentiles(latencies),
  };
}

/** The gateway's resident memory (from /proc) and its tenant pools' connections (/metrics). */
export async function gatewayFigures(
  pid: number,
  port: number,
): Promise<{ rssBytes: number; tenantPoolConnections: number }> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let connections = 0;
  for (const line of metrics.split('\n')) {
    const tenantTotal = line.includes('pool="tenant"') && line.includes('state="total"');
    if (line.startsWith('llm_backend_pg_pool_connections{') && tenantTotal)
      connections += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return { rssBytes: rssKb * 1024, tenantPoolConnections: connections };
}
