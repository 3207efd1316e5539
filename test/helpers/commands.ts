import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The command's path on PATH, or null (tests of Prometheus' files skip without its tools). */
export function onPath(command: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, command);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {}
  }
  return null;
}
