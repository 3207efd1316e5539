import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startRunResources } from './helpers/run-resources.js';
import { TEST_CACHE_VARIABLE, TEST_DATABASE_URL, TEST_REDIS } from './helpers/services.js';

/** Fails the run at once, saying what to start, when a service the suite needs is down. */
async function checkPostgres(): Promise<string | null> {
  const client = new pg.Client({
    connectionString: TEST_DATABASE_URL,
    connectionTimeoutMillis: 3000,
  });
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (error) {
    return `PostgreSQL is not reachable at ${new URL(TEST_DATABASE_URL).host} (${(error as Error).message}). Start it (e.g. pg_ctlcluster <version> main start) or set TEST_DATABASE_URL.`;
  } finally {
    await client.end().catch(() => {});
  }
}

function checkRedis(): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect(TEST_REDIS.port, TEST_REDIS.host);
    const fail = (why: string) => {
      socket.destroy();
      resolve(
        `Redis is not reachable at ${TEST_REDIS.host}:${TEST_REDIS.port} (${why}). Start it (redis-server) or set TEST_REDIS_URL.`,
      );
    };
    socket.setTimeout(3000, () => fail('timeout'));
    socket.once('error', (error) => fail(error.message));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(
        data.toString().startsWith('+PONG') ? null : (fail('unexpected answer to PING') ?? null),
      );
    });
  });
}

/**
 * One temporary directory per run, made the temporary directory of every test worker and of
 * every process they start (the workers start after this and inherit the environment), so
 * whatever a test leaves behind goes with it at the end of the run. What is worth keeping
 * between runs lives in one cache directory next to it.
 */
function useRunTempRoot(): () => void {
  const system = tmpdir();
  const runRoot = mkdtempSync(join(system, 'llm-backend-test-run-'));
  const saved = { TMPDIR: process.env.TMPDIR, TMP: process.env.TMP, TEMP: process.env.TEMP };
  // TMPDIR on POSIX, TMP and TEMP on Windows: what os.tmpdir() reads.
  Object.assign(process.env, { TMPDIR: runRoot, TMP: runRoot, TEMP: runRoot });
  process.env[TEST_CACHE_VARIABLE] ??= join(system, 'llm-backend-test-cache');
  return () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    rmSync(runRoot, { recursive: true, force: true, maxRetries: 3 });
    // A process still writing there would make it reappear, or keep the removal from finishing.
    if (existsSync(runRoot))
      throw new Error(`The test run's temporary directory ${runRoot} could not be removed.`);
  };
}

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const problems = (await Promise.all([checkPostgres(), checkRedis()])).filter((p) => p !== null);
  if (problems.length > 0)
    throw new Error(`The test suite needs these services:\n- ${problems.join('\n- ')}`);
  const removeTempRoot = useRunTempRoot();
  // What is slow to make (the shared Redis Cluster, the build), made once for the whole run
  // when a file first asks for it, instead of per file.
  const resources = await startRunResources();
  project.provide('runResources', resources.url);
  project.onTestsRerun(() => resources.rebuild());
  return async () => {
    try {
      // The cluster's nodes write in the run's temporary directory: gone before it is removed.
      await resources.stop();
    } finally {
      removeTempRoot();
    }
  };
}
