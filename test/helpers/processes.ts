import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

/** Starts `command`, resolving once its output shows `ready`; rejects if it exits first. */
export async function startUntil(
  command: string,
  args: string[],
  ready: RegExp,
  cleanup: () => void,
): Promise<ChildProcess> {
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (data: Buffer) => {
      output += data.toString();
      if (ready.test(output)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      cleanup();
      reject(new Error(`${command} exited (${code}) before it was ready:\n${output}`));
    });
  });
  return child;
}

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}
