import { join } from 'node:path';
import { beforeAll } from 'vitest';
import { runResource } from './run-resource.js';

/**
 * The built CLI (dist/cli.js), as `npm start` and the container run it: built once per test
 * run, when a file first asks. A process started from it is ready in about half the time of
 * one started from the sources through tsx, which transpiles every module on each start.
 */
export async function builtCli(): Promise<string> {
  return join(await runResource('build'), 'dist', 'cli.js');
}

/**
 * Has the build made before the file's tests, with the time a build from nothing takes (every
 * module and the admin panel), so the first start of a process does not wait for it.
 */
export function useBuiltCli(): void {
  beforeAll(() => builtCli(), 600_000);
}
