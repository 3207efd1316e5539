import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { builtCli, useBuiltCli } from './built-cli.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

// Every file that starts roles has the build made before its tests.
useBuiltCli();

/** `llm-backend <command>`, built, as its own process, which a test may kill -9. */
export interface ChildRole {
  child: ChildProcess;
  /** Every line written so far (JSON log lines and anything else). */
  output(): string;
  /** SIGKILL: no drain, no flush; resolves once the process is gone. */
  kill(): Promise<void>;
}

/**
 * Starts `llm-backend <command>` and resolves once a log line says `ready` (for serve: the
 * base URL from Fastify's "Server listening at" line). Only `PATH` and `env` reach it.
 */
export async function startRole(
  command: 'serve' | 'worker',
  env: Record<string, string>,
  children: Set<ChildProcess>,
): Promise<ChildRole & { url: string }> {
  const child = spawn(process.execPath, [await builtCli(), command], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  const ready =
    command === 'serve' ? /Server listening at (https?:\/\/[^\s"]+)/ : /usage workers started/;
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (data: Buffer) => {
      output += data.toString();
      const match = ready.exec(output);
      if (match) resolve(match[1] ?? '');
    });
    child.stderr?.on('data', (data: Buffer) => {
      output += data.toString();
    });
    child.once('exit', (code) => reject(new Error(`${command} exited (${code}): ${output}`)));
  });
  return {
    child,
    url,
    output: () => output,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}
