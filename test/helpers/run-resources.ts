import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startRedisCluster } from './redis-cluster-nodes.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where a test file asks for a resource of the run (runResource). */
    runResources: string;
  }
}

/** What a resource is to the files that ask for it (a URL, a path), and how it ends. */
interface Made {
  value: string;
  stop?: () => Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * What some files need and is slow to make, made once per run, for the run: the Redis
 * Cluster the store suites share, and the build in dist/ that the tests of the built CLI run.
 */
const RESOURCES = {
  'redis-cluster': async () => {
    const cluster = await startRedisCluster();
    return { value: cluster.url, stop: () => cluster.stop() };
  },
  build: () =>
    new Promise((resolve, reject) => {
      // As a user runs it: not with the NODE_ENV vitest sets (`test`), which Vite would keep
      // and bundle React's development build into dist/web, for `npm start` to serve after.
      const { NODE_ENV: _, ...env } = process.env;
      execFile('npm', ['run', 'build'], { cwd: REPO_ROOT, env }, (error, stdout, stderr) =>
        error === null
          ? resolve({ value: REPO_ROOT })
          : reject(new Error(`npm run build failed:\n${stdout}${stderr}`)),
      );
    }),
} satisfies Record<string, () => Promise<Made>>;

export type RunResourceName = keyof typeof RESOURCES;

export interface RunResources {
  /** The loopback URL the test files ask (GET <url><name>). */
  url: string;
  /** Makes the build again on the next ask: a rerun in watch mode tests the edited sources. */
  rebuild(): void;
  /** Ends what was made; throws when something a file asked for could not be made. */
  stop(): Promise<void>;
}

/**
 * Serves the run's resources from its main process: each made on the first ask (a run of
 * files that never ask for it pays nothing), every ask answered once it is ready, with its
 * value, or with why it could not be made (status 500).
 */
export async function startRunResources(): Promise<RunResources> {
  const made = new Map<string, Promise<Made>>();
  const server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').slice(1));
    const make = Object.hasOwn(RESOURCES, name) ? RESOURCES[name as RunResourceName] : undefined;
    if (make === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no run resource '${name}'`);
      return;
    }
    let making = made.get(name);
    if (making === undefined) {
      making = make() as Promise<Made>;
      made.set(name, making);
    }
    making.then(
      ({ value }) => res.writeHead(200, { 'content-type': 'text/plain' }).end(value),
      (error: unknown) =>
        res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end(`the run's ${name} could not be made: ${(error as Error).message}`),
    );
  });
  // Making a resource may take minutes on a loaded machine; the asking file has its deadline.
  server.requestTimeout = 0;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    rebuild() {
      made.delete('build');
    },
    async stop() {
      server.closeAllConnections();
      server.close();
      const failures: string[] = [];
      for (const [name, making] of made) {
        const outcome = await making.catch((error: unknown) => error as Error);
        if (outcome instanceof Error) failures.push(`${name}: ${outcome.message}`);
        else await outcome.stop?.();
      }
      if (failures.length > 0)
        throw new Error(`Resources of the test run could not be made:\n- ${failures.join('\n- ')}`);
    },
  };
}
