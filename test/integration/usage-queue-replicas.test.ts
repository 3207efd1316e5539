import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisUsageQueue } from '../../src/services/usage/redis-queue.js';
import { openRedis, type RedisConnections } from '../../src/storage/redis.js';
import { eventually } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';
import { usageEvent } from '../helpers/usage-queues.js';

/**
 * A usage publish waits until a replica holds its events (Redis WAIT), on a real master and
 * replica started here: when the publish resolves the replica already has them, and with the
 * replica gone it still resolves, counted as unreplicated.
 */
const dir = mkdtempSync(join(tmpdir(), 'llm-backend-redis-replica-'));
const servers: ChildProcess[] = [];
let master: RedisConnections;
/** The connection a waiting publish goes over; the queue's other commands use `master`. */
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

function queueOn(stream: string, replicas: number) {
  return new RedisUsageQueue({
    client: master.command,
    blocking: master.blocking(stream),
    waiting: () => publishing.command,
    claimIdleMs: 1000,
    stream,
    replicaAcks: () => replicas,
    replicaAckTimeoutMs: 200,
  });
}

describe('a usage publish that waits for a replica', () => {
  it('is held while the replica has not confirmed it, and resolves once it has', async () => {
    const stream = 'llmb:test:usage:held';
    const queue = new RedisUsageQueue({
      client: master.command,
      blocking: master.blocking(stream),
      waiting: () => publishing.command,
      claimIdleMs: 1000,
      stream,
      replicaAcks: () => 1,
      replicaAckTimeoutMs: 60_000,
    });
    // The replica stops answering (SIGSTOP): the master takes the events, nobody confirms them.
    replicaProcess.kill('SIGSTOP');
    let resolved = false;
    const published = queue.publish([usageEvent('t1')]).then(() => {
      resolved = true;
    });
    try {
      // The queue's other commands go on meanwhile (the wait holds its own connection only):
      // the master has the event, and the publish still waits, where without the replica's
      // word its answer would be out already.
      await eventually(async () => expect(await queue.backlog()).toBe(1), 20_000);
      expect(resolved).toBe(false);
    } finally {
      replicaProcess.kill('SIGCONT');
    }
    await published;
    expect(resolved).toBe(true);
    expect(await replica.command.xlen(stream)).toBe(1);
    expect(queue.unreplicated()).toBe(0);
  });

  it('resolves once the replica holds every event of it', async () => {
    const queue = queueOn('llmb:test:usage:replicated', 1);
    for (let round = 1; round <= 5; round++) {
      await queue.publish([usageEvent('t1'), usageEvent('t1'), usageEvent('t1')]);
      // No waiting here: the replica has them the moment the publish resolves.
      expect(await replica.command.xlen('llmb:test:usage:replicated')).toBe(round * 3);
    }
    expect(queue.unreplicated()).toBe(0);
  });

  it('does not wait when told of no replica', async () => {
    const queue = queueOn('llmb:test:usage:unwaited', 0);
    await queue.publish([usageEvent('t1')]);
    expect(await master.command.xlen('llmb:test:usage:unwaited')).toBe(1);
    expect(queue.unreplicated()).toBe(0);
  });

  it('still publishes when the replica is gone, and counts what no replica confirmed', async () => {
    const queue = queueOn('llmb:test:usage:alone', 1);
    await queue.publish([usageEvent('t1')]);
    expect(queue.unreplicated()).toBe(0);
    const exited = once(replicaProcess, 'exit');
    replicaProcess.kill('SIGKILL');
    await exited;
    await queue.publish([usageEvent('t1'), usageEvent('t1')]);
    await queue.publish([usageEvent('t1')]);
    // The master holds all of them; two publishes were confirmed by no replica.
    expect(await master.command.xlen('llmb:test:usage:alone')).toBe(4);
    expect(queue.unreplicated()).toBe(2);
  });
});
