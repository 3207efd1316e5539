/**
 * Every process the harness starts goes through here, so that every one of them is ended
 * on the way out: a normal end, an error, or Ctrl-C. Forked workers (upstream, load,
 * streams) speak the IPC protocol of protocol.ts; gateways are plain processes whose
 * output goes to a log file.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import type {
  Command,
  HoldResult,
  LoadResult,
  Reply,
  StreamResult,
  UpstreamCount,
} from './protocol.js';

const running = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Ends every child still running: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopAll(graceMs = 3000): Promise<void> {
  await Promise.all([...running].map((child) => stop(child, graceMs)));
}

/** Last resort, from a synchronous 'exit' handler. */
export function killAllNow(): void {
  for (const child of running) child.kill('SIGKILL');
}

export async function stop(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

type Result = LoadResult | StreamResult | HoldResult | UpstreamCount | null;
type Opened = Reply & { kind: 'opened' };

interface Pending {
  resolve: (result: Result) => void;
  reject: (error: Error) => void;
  onOpened?: (reply: Opened) => void;
}

/** A forked TypeScript worker answering one command at a time. */
export class Worker {
  readonly child: ChildProcess;
  private pending: Pending | null = null;
  private readonly listening: Promise<number>;

  constructor(
    readonly name: string,
    script: string,
  ) {
    this.child = track(
      fork(script, [], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
    let listening: (port: number) => void = () => {};
    this.listening = new Promise((resolve, reject) => {
      listening = resolve;
      this.child.once('exit', () => reject(new Error(`${name} exited before it listened`)));
    });
    // Only the upstream listens; the other workers never say so.
    this.listening.catch(() => {});
    this.child.on('message', (message: Reply) => {
      if (message.kind === 'ready') listening(message.port ?? 0);
      else this.answer(message);
    });
    this.child.once('exit', (code, signal) => {
      this.pending?.reject(new Error(`${name} exited (${signal ?? `code ${code}`})`));
      this.pending = null;
    });
  }

  /** The port the upstream listens on, once it does. */
  port(): Promise<number> {
    return this.listening;
  }

  run<T extends Result>(command: Command, onOpened?: (reply: Opened) => void): Promise<T> {
    if (this.pending !== null) throw new Error(`${this.name} is busy`);
    return new Promise<T>((resolve, reject) => {
      this.pending = { resolve: (result) => resolve(result as T), reject, onOpened };
      this.child.send(command);
    });
  }

  private answer(message: Reply): void {
    const pending = this.pending;
    if (pending === null) return;
    if (message.kind === 'opened') {
      pending.onOpened?.(message);
      return;
    }
    this.pending = null;
    if (message.kind === 'done') pending.resolve(message.result);
    else if (message.kind === 'failed')
      pending.reject(new Error(`${this.name}: ${message.message}`));
  }
}

/** A plain process (a gateway), its output appended to `logFile`. */
export function startProcess(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
): ChildProcess {
  const log = openSync(logFile, 'a');
  try {
    return track(spawn(command, args, { env, stdio: ['ignore', log, log] }));
  } finally {
    closeSync(log);
  }
}

/** Polls `url` until it answers 200; fails early if `child` exits. */
export async function waitForHttp(
  url: string,
  child: ChildProcess | null,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child !== null && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(
        `exited (${child.signalCode ?? `code ${child.exitCode}`}) before ${url} answered`,
      );
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** Resident memory of a process (VmRSS), in MB. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) / 1024;
}

/** The last lines of a log file, for an error message. */
export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

const LEVELS: Record<number, string> = { 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/**
 * Counts a pino log's lines above info by level and message, ids blanked so that alike
 * lines add up; each `take()` counts only what was written since the previous one.
 */
export class LogTally {
  private offset = 0;

  constructor(private readonly file: string) {}

  take(): Record<string, number> {
    let text: string;
    try {
      const all = readFileSync(this.file);
      text = all.subarray(this.offset).toString('utf8');
      this.offset = all.length;
    } catch {
      return {};
    }
    const counts: Record<string, number> = {};
    for (const line of text.split('\n')) {
      if (line.length === 0) continue;
      let key: string;
      try {
        const entry = JSON.parse(line) as {
          level?: number;
          msg?: string;
          event?: string;
          err?: { message?: string };
        };
        if ((entry.level ?? 0) < 40) continue;
        const detail = entry.err?.message ?? entry.event;
        key = `${LEVELS[entry.level ?? 0] ?? entry.level}: ${entry.msg}${detail ? ` (${detail})` : ''}`;
      } catch {
        key = line;
      }
      key = key.replace(/\b(tnt|quo|key|req|usr|lim|evt)_[0-9a-z]+/g, '$1_...').slice(0, 200);
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }
}

/**
 * Times a listening socket's accept queue overflowed, machine-wide (TcpExt ListenOverflows):
 * each overflow drops a SYN, and that client waits a second or more to try again.
 */
export function listenOverflows(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    const names = lines.find((line) => line.startsWith('TcpExt:'))?.split(' ') ?? [];
    const values = lines.filter((line) => line.startsWith('TcpExt:'))[1]?.split(' ') ?? [];
    return Number(values[names.indexOf('ListenOverflows')] ?? 0);
  } catch {
    return 0;
  }
}
