/**
 * The four systems measured, each started on its own free port and stopped before the
 * next one starts (the machine has two cores): `direct` (the load generator calls the fake
 * upstream itself), `bare-proxy` (the least a Node gateway does, bench/bare-proxy.mjs),
 * `portkey` (Portkey's open-source gateway) and `llm-backend` (ours).
 */
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { LogTally, startProcess, stop, tail, waitForHttp } from './children.js';
import { type Accounting, type CacheSwitch, type Counters, LlmBackend } from './llm-backend.js';
import type { Target } from './protocol.js';

export const SYSTEMS = ['direct', 'bare-proxy', 'portkey', 'llm-backend'] as const;
export type SystemName = (typeof SYSTEMS)[number];

export interface SystemOptions {
  upstreamPort: number;
  resultsDir: string;
  logLevel: string;
  cpuProfDir: string | null;
}

export interface RunningSystem {
  name: SystemName;
  target: Target;
  /** The gateway's process, whose memory is sampled; null for `direct`. */
  pid: number | null;
  /** Our gateway only: usage records against requests answered. */
  accounting(upstreamReceived: number): Promise<Accounting | null>;
  /** Our gateway only: its warnings and errors since the previous call, by message. */
  logs(): Record<string, number>;
  /** Our gateway only: Redis commands and PostgreSQL transactions so far. */
  counters(): Promise<Counters | null>;
  /** Our gateway only: its response cache, probed and switched for the cache phase. */
  cache: CacheSwitch | null;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function direct({ upstreamPort }: SystemOptions): RunningSystem {
  return {
    name: 'direct',
    target: {
      url: `http://127.0.0.1:${upstreamPort}/v1/chat/completions`,
      headers: { authorization: 'Bearer bench' },
    },
    pid: null,
    accounting: async () => null,
    logs: () => ({}),
    counters: async () => null,
    cache: null,
    stop: async () => {},
  };
}

async function bareProxy({ upstreamPort, resultsDir }: SystemOptions): Promise<RunningSystem> {
  const port = await freePort();
  const logFile = join(resultsDir, 'bare-proxy.log');
  rmSync(logFile, { force: true });
  const child = startProcess(
    process.execPath,
    ['bench/bare-proxy.mjs', `--port=${port}`, `--upstream=http://127.0.0.1:${upstreamPort}`],
    { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production' },
    logFile,
  );
  try {
    await waitForHttp(`http://127.0.0.1:${port}/`, child);
  } catch (error) {
    await stop(child);
    throw new Error(`the bare proxy did not start: ${String(error)}\n${tail(logFile)}`);
  }
  return {
    name: 'bare-proxy',
    target: {
      url: `http://127.0.0.1:${port}/v1/chat/completions`,
      headers: { authorization: 'Bearer bench' },
    },
    pid: child.pid ?? null,
    accounting: async () => null,
    logs: () => ({}),
    counters: async () => null,
    cache: null,
    stop: () => stop(child),
  };
}

async function portkey({ upstreamPort, resultsDir }: SystemOptions): Promise<RunningSystem> {
  const port = await freePort();
  const logFile = join(resultsDir, 'portkey.log');
  rmSync(logFile, { force: true });
  const child = startProcess(
    process.execPath,
    ['bench/portkey-server.mjs', `--port=${port}`, '--headless'],
    { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production' },
    logFile,
  );
  try {
    await waitForHttp(`http://127.0.0.1:${port}/`, child);
  } catch (error) {
    await stop(child);
    throw new Error(`Portkey did not start: ${String(error)}\n${tail(logFile)}`);
  }
  return {
    name: 'portkey',
    target: {
      url: `http://127.0.0.1:${port}/v1/chat/completions`,
      headers: {
        authorization: 'Bearer bench',
        'x-portkey-provider': 'openai',
        'x-portkey-custom-host': `http://127.0.0.1:${upstreamPort}/v1`,
      },
    },
    pid: child.pid ?? null,
    accounting: async () => null,
    logs: () => ({}),
    counters: async () => null,
    cache: null,
    stop: () => stop(child),
  };
}

async function llmBackend(options: SystemOptions): Promise<RunningSystem> {
  const logFile = join(options.resultsDir, 'llm-backend.log');
  rmSync(logFile, { force: true });
  const tally = new LogTally(logFile);
  const gateway = new LlmBackend({
    upstreamPort: options.upstreamPort,
    port: await freePort(),
    logLevel: options.logLevel,
    logFile,
    cpuProfDir: options.cpuProfDir,
  });
  let target: Target;
  try {
    target = await gateway.start();
  } catch (error) {
    await gateway.stop();
    throw new Error(`llm-backend did not start: ${String(error)}\n${tail(logFile)}`);
  }
  return {
    name: 'llm-backend',
    target,
    pid: gateway.pid,
    accounting: (upstreamReceived) => gateway.accounting(upstreamReceived),
    logs: () => tally.take(),
    counters: () => gateway.counters(),
    cache: gateway,
    stop: () => gateway.stop(),
  };
}

export function startSystem(name: SystemName, options: SystemOptions): Promise<RunningSystem> {
  switch (name) {
    case 'direct':
      return Promise.resolve(direct(options));
    case 'bare-proxy':
      return bareProxy(options);
    case 'portkey':
      return portkey(options);
    case 'llm-backend':
      return llmBackend(options);
  }
}
