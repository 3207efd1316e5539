import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

/** Three masters, each with one replica: the smallest cluster that survives losing a master. */
const NODES = 6;
/** Low, so a killed master's replica takes over within seconds; the tests poll, never time. */
const NODE_TIMEOUT_MS = 2000;
/** How long the cluster has to form, or to heal after a master is killed. */
export const DEADLINE_MS = 120_000;

interface Node {
  port: number;
  process: ChildProcess;
}

export interface RedisCluster {
  /** `redis+cluster://` naming every node, as REDIS_URL does. */
  url: string;
  ports: number[];
  /** The port of the master that serves `key`'s slot now. */
  masterOf(key: string): Promise<number>;
  /** SIGKILLs the node on `port` (no shutdown, no goodbye to the cluster). */
  kill(port: number): Promise<void>;
  /** Waits until a replica took over every slot of a killed master and the cluster is ok. */
  healed(killed: number): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  try {
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    server.close();
  }
}

/** A port free for the node and for its cluster bus (port + 10000). */
async function freeNodePort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (taken.has(port)) continue;
    if ((await isFree(port)) && (await isFree(port + 10_000))) {
      taken.add(port);
      return port;
    }
  }
}

async function startNode(port: number, dir: string): Promise<Node> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes'];
  args.push('--cluster-config-file', join(dir, `nodes-${port}.conf`));
  args.push('--cluster-node-timeout', String(NODE_TIMEOUT_MS), '--dir', dir);
  args.push('--save', '', '--appendonly', 'no');
  // A replica takes over however long it last heard its master: on a loaded machine its link
  // may look stale, and the default validity factor would leave the slots without a master.
  args.push('--cluster-replica-validity-factor', '0');
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (data: Buffer) => {
      output += data.toString();
      if (/Ready to accept connections/.test(output)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${output}`)));
  });
  // Its output is not read any more; a full pipe must not stall it.
  child.stdout?.resume();
  child.stderr?.resume();
  return { port, process: child };
}

/** Runs one command on one node over a short-lived plain connection. */
async function onNode(port: number, ...args: (string | number)[]): Promise<unknown> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.call(String(args[0]), ...args.slice(1));
  } finally {
    client.disconnect();
  }
}

/** Every slot served and every live node agreeing on it. */
async function healthy(ports: number[]): Promise<boolean> {
  for (const port of ports) {
    const info = String(await onNode(port, 'CLUSTER', 'INFO').catch(() => ''));
    if (!/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384/.test(info)) return false;
  }
  return true;
}

/**
 * Every replica has finished its first copy of its master: a master killed before then
 * leaves a replica without its data, which no client could help.
 */
async function replicated(ports: number[]): Promise<boolean> {
  for (const port of ports) {
    const info = String(await onNode(port, 'INFO', 'replication').catch(() => ''));
    if (/role:slave/.test(info) && !/master_link_status:up/.test(info)) return false;
    if (/role:master/.test(info) && !/connected_slaves:[1-9]/.test(info)) return false;
  }
  return true;
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`the Redis cluster did not ${what} in time`);
    await sleep(200);
  }
}

/** One line of CLUSTER NODES: `<id> <ip:port@bus> <flags> ...`. */
function nodeLines(text: string) {
  return text
    .trim()
    .split('\n')
    .map((line) => line.split(' '))
    .map(([, address = '', flags = '']) => ({
      port: Number(address.split('@')[0]?.split(':')[1]),
      flags: flags.split(','),
    }));
}

/**
 * A real Redis Cluster of six `redis-server` processes on free ports (three masters, one
 * replica each), formed with `redis-cli --cluster create`, in a temporary directory that
 * stop() removes with the processes.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'llm-backend-redis-cluster-'));
  const nodes: Node[] = [];
  const stop = async () => {
    for (const node of nodes) {
      if (node.process.exitCode === null && node.process.signalCode === null) {
        const exited = once(node.process, 'exit');
        node.process.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const taken = new Set<number>();
    for (let i = 0; i < NODES; i++) nodes.push(await startNode(await freeNodePort(taken), dir));
    const ports = nodes.map((node) => node.port);
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
    await until('form', () => healthy(ports));
    await until('replicate', () => replicated(ports));
    const live = () => nodes.filter((n) => n.process.exitCode === null && !n.process.signalCode);
    return {
      url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
      ports,
      async masterOf(key) {
        const port = live()[0]?.port ?? 0;
        const slot = Number(await onNode(port, 'CLUSTER', 'KEYSLOT', key));
        const shards = (await onNode(port, 'CLUSTER', 'SLOTS')) as [
          number,
          number,
          [string, number],
        ][];
        const shard = shards.find(([from, to]) => slot >= from && slot <= to);
        if (shard === undefined) throw new Error(`no master serves slot ${slot}`);
        return Number(shard[2][1]);
      },
      async kill(port) {
        const node = nodes.find((n) => n.port === port);
        if (node === undefined) throw new Error(`no node on ${port}`);
        const exited = once(node.process, 'exit');
        node.process.kill('SIGKILL');
        await exited;
      },
      async healed(killed) {
        const alive = live().map((n) => n.port);
        await until('heal', async () => {
          if (!(await healthy(alive))) return false;
          // The killed node is marked failed (not just suspected): its replica took its slots.
          const seen = nodeLines(String(await onNode(alive[0] ?? 0, 'CLUSTER', 'NODES')));
          return seen.find((n) => n.port === killed)?.flags.includes('fail') === true;
        });
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
