import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBatchQueue } from '../../src/services/batches/batch-queue.js';
import { RedisEventLog } from '../../src/services/events/event-log.js';
import { RedisUsageQueue } from '../../src/services/usage/redis-queue.js';
import { openRedis, type RedisConnections } from '../../src/storage/redis.js';
import { type ReplicatedStream, ReplicaWait } from '../../src/storage/replica-wait.js';
import { eventually } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';
import { usageEvent } from '../helpers/usage-queues.js';

/**
 * Stream appends wait until a replica holds them (Redis WAIT): usage events, webhook events,
 * shipped request logs and batch lines, on a real master and replica started here. When an
 * append resolves the replica already has it, and with the replica gone it still resolves,
 * counted as unreplicated.
 */
const dir = mkdtempSync(join(tmpdir(), 'llm-backend-redis-replica-'));
const servers: ChildProcess[] = [];
let master: RedisConnections;
/** The connection a waiting append goes over; the writers' other commands use `master`. */
let publishing: RedisConnections;
let replica: RedisConnections;
let replicaProcess: ChildProcess;

async function startRedis(port: number, ...extra: string[]): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child = spawn('redis-server', [...args, '--dir', dir, ...extra], { stdio: 'ignore' });
  servers.push(child);
  const probe = openRedis(`redis://127.0.0.1:${port}`);
  try {
    await eventually(async () => expect(await probe.command.ping()).toBe('PONG'), 20_000);
  } finally {
    await probe.close();
  }
  return child;
}

beforeAll(async () => {
  const masterPort = await freePort();
  const replicaPort = await freePort();
  await startRedis(masterPort);
  replicaProcess = await startRedis(replicaPort, '--replicaof', '127.0.0.1', String(masterPort));
  master = openRedis(`redis://127.0.0.1:${masterPort}`);
  publishing = openRedis(`redis://127.0.0.1:${masterPort}`);
  replica = openRedis(`redis://127.0.0.1:${replicaPort}`);
  // The replica has made its first copy and streams the master's writes from now on.
  await eventually(
    async () => expect(await replica.command.info('replication')).toMatch(/master_link_status:up/),
    20_000,
  );
}, 60_000);

afterAll(async () => {
  await master?.close();
  await publishing?.close();
  await replica?.close();
  for (const child of servers) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function waitFor(replicas: number, timeoutMs = 200): ReplicaWait {
  return new ReplicaWait({
    replicas: () => replicas,
    connection: () => publishing.command,
    timeoutMs,
  });
}

function queueOn(stream: string, replicaWait: ReplicaWait) {
  return new RedisUsageQueue({
    client: master.command,
    blocking: master.blocking(stream),
    claimIdleMs: 1000,
    stream,
    replicaWait,
  });
}

/** One append by each writer that waits, to a stream of its own, and which count it goes to. */
interface Writer {
  counted: ReplicatedStream;
  stream: string;
  append(): Promise<unknown>;
}

function writers(suffix: string, replicaWait: ReplicaWait): Writer[] {
  const client = master.command;
  const usage = `llmb:test:waited:usage:${suffix}`;
  const events = `llmb:test:waited:events:${suffix}`;
  const logs = `llmb:test:waited:logs:${suffix}`;
  const batches = `llmb:test:waited:batches:${suffix}`;
  const queue = queueOn(usage, replicaWait);
  const eventLog = new RedisEventLog({ client, stream: events, replicaWait });
  // The request log sends its appends together, a pipeline every few milliseconds.
  const logLog = new RedisEventLog({
    client,
    stream: logs,
    batchMs: 5,
    replicaWait,
    waitedAs: 'logs',
  });
  const batchQueue = new RedisBatchQueue({
    client,
    blocking: () => master.blocking(batches),
    claimIdleMs: 1000,
    stream: batches,
    replicaWait,
  });
  const event = { type: 'test.appended', tenantId: null, data: {} };
  return [
    { counted: 'usage', stream: usage, append: () => queue.publish([usageEvent('t1')]) },
    { counted: 'events', stream: events, append: () => eventLog.append(event) },
    { counted: 'logs', stream: logs, append: () => logLog.append(event) },
    {
      counted: 'batches',
      stream: batches,
      append: () => batchQueue.publish([{ tenantId: 't1', batchId: 'batch_1', index: 0 }]),
    },
  ];
}

describe('a stream append that waits for a replica', () => {
  it('is held while the replica has not confirmed it, and resolves once it has', async () => {
    const replicaWait = waitFor(1, 60_000);
    for (const writer of writers('held', replicaWait)) {
      // The replica stops answering (SIGSTOP): the master takes the append, nobody confirms it.
      replicaProcess.kill('SIGSTOP');
      let resolved = false;
      const appended = writer.append().then(() => {
        resolved = true;
      });
      try {
        // Other commands go on meanwhile (the wait holds its own connection only): the master
        // has the entry, and the append still waits, where without the replica's word its
        // promise would be kept already.
        await eventually(async () => expect(await master.command.xlen(writer.stream)).toBe(1));
        expect(resolved, writer.counted).toBe(false);
      } finally {
        replicaProcess.kill('SIGCONT');
      }
      await appended;
      expect(await replica.command.xlen(writer.stream), writer.counted).toBe(1);
    }
    expect(replicaWait.counts().filter(([, count]) => count > 0)).toEqual([]);
  });

  it('resolves once the replica holds every event of a usage publish', async () => {
    const replicaWait = waitFor(1);
    const queue = queueOn('llmb:test:usage:replicated', replicaWait);
    for (let round = 1; round <= 5; round++) {
      await queue.publish([usageEvent('t1'), usageEvent('t1'), usageEvent('t1')]);
      // No waiting here: the replica has them the moment the publish resolves.
      expect(await replica.command.xlen('llmb:test:usage:replicated')).toBe(round * 3);
    }
    expect(replicaWait.unreplicated('usage')).toBe(0);
  });

  it('does not wait when told of no replica', async () => {
    const replicaWait = waitFor(0);
    for (const writer of writers('unwaited', replicaWait)) await writer.append();
    for (const writer of writers('unwaited', replicaWait))
      expect(await master.command.xlen(writer.stream), writer.counted).toBe(1);
    expect(replicaWait.counts().filter(([, count]) => count > 0)).toEqual([]);
  });

  it('still appends when the replica is gone, and counts what no replica confirmed', async () => {
    const replicaWait = waitFor(1);
    const queue = queueOn('llmb:test:usage:alone', replicaWait);
    await queue.publish([usageEvent('t1')]);
    expect(replicaWait.unreplicated('usage')).toBe(0);
    const exited = once(replicaProcess, 'exit');
    replicaProcess.kill('SIGKILL');
    await exited;
    await queue.publish([usageEvent('t1'), usageEvent('t1')]);
    await queue.publish([usageEvent('t1')]);
    // The master holds all of them; two publishes were confirmed by no replica.
    expect(await master.command.xlen('llmb:test:usage:alone')).toBe(4);
    expect(replicaWait.unreplicated('usage')).toBe(2);
    // Each writer's append is kept by the master alone, and counted under its own stream.
    for (const writer of writers('alone', replicaWait)) await writer.append();
    expect(replicaWait.counts()).toEqual([
      ['usage', 3],
      ['events', 1],
      ['logs', 1],
      ['batches', 1],
    ]);
  });
});
