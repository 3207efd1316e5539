/**
 * What waiting for a replica costs a usage publish (Redis WAIT, REDIS_REPLICA_ACKS): a master
 * and a replica started here on free ports (`redis-server` on the PATH), the usage queue's
 * publish measured with and without the wait in the same run, one publish at a time and with
 * many in flight, beside a bare PING round trip. Nothing else uses these two servers.
 *
 *   npm run bench:replica-wait        (ROUNDS, default 3000; IN_FLIGHT, default 32)
 *
 * perSecond counts publishes; in the batch rows each publish carries BATCH events.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisUsageQueue } from '../src/services/usage/redis-queue.js';
import type { UsageEvent } from '../src/services/usage/usage-records.js';
import { openRedis, type RedisConnections } from '../src/storage/redis.js';
import { NO_REPLICA_WAIT, ReplicaWait } from '../src/storage/replica-wait.js';
import { newId } from '../src/utils/ids.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3000);
const IN_FLIGHT = Number(process.env.IN_FLIGHT ?? 32);
/** Events per publish in the group-commit rows. */
const BATCH = 32;
const dir = mkdtempSync(join(tmpdir(), 'llm-backend-bench-replica-'));
const servers: ChildProcess[] = [];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function startRedis(port: number, ...extra: string[]): Promise<RedisConnections> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir];
  servers.push(spawn('redis-server', [...args, ...extra], { stdio: 'ignore' }));
  const redis = openRedis(`redis://127.0.0.1:${port}`);
  for (let tries = 0; ; tries++) {
    try {
      await redis.command.ping();
      return redis;
    } catch (error) {
      if (tries > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** A usage event as a chat request makes one. */
function event(): UsageEvent {
  return {
    id: newId('evt'),
    at: new Date(),
    requestId: newId('req'),
    tenantId: 'tnt_bench',
    userId: null,
    keyId: 'key_bench',
    model: 'gpt-bench',
    provider: 'openai',
    usage: {
      promptTokens: 120,
      completionTokens: 480,
      cachedTokens: 0,
      totalTokens: 600,
      estimated: false,
    },
    cost: 0.001234,
    latencyMs: 850,
    timeToFirstTokenMs: 120,
    status: 200,
    streamed: true,
    clientDisconnected: false,
    cacheHit: false,
    savedCost: 0,
  };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

/** Latency of each call with `inFlight` callers at once, and calls per second overall. */
async function measure(inFlight: number, once: () => Promise<unknown>) {
  for (let i = 0; i < 200; i++) await once();
  const times: number[] = [];
  let next = 0;
  const started = performance.now();
  const caller = async () => {
    while (next++ < ROUNDS) {
      const began = performance.now();
      await once();
      times.push(performance.now() - began);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, caller));
  const seconds = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  const ms = (value: number) => Math.round(value * 1000) / 1000;
  return {
    p50Ms: ms(percentile(times, 50)),
    p99Ms: ms(percentile(times, 99)),
    perSecond: Math.round(times.length / seconds),
  };
}

async function main(): Promise<void> {
  const masterPort = await freePort();
  const master = await startRedis(masterPort);
  const replica = await startRedis(
    await freePort(),
    '--replicaof',
    '127.0.0.1',
    String(masterPort),
  );
  while (!(await replica.command.info('replication')).includes('master_link_status:up'))
    await new Promise((resolve) => setTimeout(resolve, 100));

  const queueWith = (replicaWait: ReplicaWait) =>
    new RedisUsageQueue({
      client: master.command,
      blocking: master.blocking('bench'),
      claimIdleMs: 60_000,
      stream: `llmb:bench:usage:${randomUUID()}`,
      replicaWait,
    });
  const waiting = new ReplicaWait({
    replicas: () => 1,
    connection: (stream) => master.blocking(`replicated-writes:${stream}`),
    timeoutMs: 500,
  });
  const plain = queueWith(NO_REPLICA_WAIT);
  const waited = queueWith(waiting);

  const results: Record<string, unknown> = {};
  for (const inFlight of [1, IN_FLIGHT]) {
    results[`ping_${inFlight}`] = await measure(inFlight, () => master.command.ping());
    results[`publish_${inFlight}`] = await measure(inFlight, () => plain.publish([event()]));
    results[`publish_wait_${inFlight}`] = await measure(inFlight, () => waited.publish([event()]));
  }
  // As the gateway publishes under load: the answers of one moment share a publish (group
  // commit), so a wait is paid per batch of events, not per event.
  const batch = () => Array.from({ length: BATCH }, event);
  results[`publish_batch${BATCH}_4`] = await measure(4, () => plain.publish(batch()));
  results[`publish_wait_batch${BATCH}_4`] = await measure(4, () => waited.publish(batch()));
  results.unreplicated = waiting.unreplicated('usage');
  const report = { rounds: ROUNDS, inFlight: IN_FLIGHT, at: new Date().toISOString(), results };
  console.log(JSON.stringify(report, null, 2));
  if (process.env.BENCH_OUT)
    writeFileSync(process.env.BENCH_OUT, `${JSON.stringify(report, null, 2)}\n`);
  await master.close();
  await replica.close();
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const child of servers) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
