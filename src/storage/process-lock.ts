import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class DirectoryInUseError extends Error {
  constructor(
    readonly directory: string,
    readonly pid: number,
  ) {
    super(
      `The embedded databases in ${directory} are in use by process ${pid}. PGlite serves one process at a time: stop that process (or use the admin API while it runs) and try again.`,
    );
    this.name = 'DirectoryInUseError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as { code?: string }).code === 'EPERM';
  }
}

/**
 * Claims a directory for this process, so two processes never open the same PGlite data
 * (which would corrupt it). A lock left by a process that died is taken over.
 */
export function lockDirectory(directory: string): () => void {
  mkdirSync(directory, { recursive: true });
  const path = join(directory, 'owner.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch {
      const pid = Number(readFileSync(path, 'utf8'));
      if (Number.isInteger(pid) && pid !== process.pid && alive(pid)) {
        throw new DirectoryInUseError(directory, pid);
      }
      rmSync(path, { force: true });
    }
  }
  throw new DirectoryInUseError(directory, Number.NaN);
}
