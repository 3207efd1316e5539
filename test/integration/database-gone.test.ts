import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toClientError } from '../../src/plugins/errors.js';
import { isDatabaseGone } from '../../src/storage/pg-errors.js';
import { TEST_DATABASE_URL } from '../helpers/services.js';

/**
 * A query whose database went away under it (a tenant move's seal ends its session and closes
 * the old database to new connections) is answered 503 with Retry-After, not 500: nothing was
 * written, and the same request sent again finds the database where it is now. The errors are
 * PostgreSQL's own, from a real server.
 */
const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
const closed = `llmb_gone_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  await admin.connect();
});

afterAll(async () => {
  await admin.query(`drop database if exists ${closed}`).catch(() => {});
  await admin.end();
});

async function failureOf(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error('expected it to fail');
}

describe('a database gone under a query', () => {
  it('answers 503 with Retry-After when the session is ended mid-query', async () => {
    const victim = new pg.Client({ connectionString: TEST_DATABASE_URL });
    victim.on('error', () => {});
    await victim.connect();
    const { rows } = await victim.query<{ pid: number }>('select pg_backend_pid() as pid');
    const running = failureOf(() => victim.query('select pg_sleep(60)'));
    // Ended once the query is under way, as a move's seal ends a writer waiting on its lock.
    await expectRunning(rows[0]?.pid ?? 0);
    await admin.query('select pg_terminate_backend($1)', [rows[0]?.pid]);
    const error = await running;
    expect((error as { code?: string }).code).toBe('57P01');
    const answer = toClientError(error);
    expect({ status: answer.status, code: answer.code, headers: answer.headers }).toEqual({
      status: 503,
      code: 'service_unavailable',
      headers: { 'retry-after': '1' },
    });
    await victim.end().catch(() => {});
  });

  it('answers 503 when the database takes no new connections', async () => {
    await admin.query(`create database ${closed}`);
    await admin.query(`alter database ${closed} with allow_connections false`);
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${closed}`;
    const client = new pg.Client({ connectionString: url.toString() });
    client.on('error', () => {});
    const error = await failureOf(() => client.connect());
    expect((error as { code?: string }).code).toBe('55000');
    expect(toClientError(error).status).toBe(503);
  });

  it('leaves a query that was wrong a 500, and other errors alone', async () => {
    const error = await failureOf(() => admin.query('select * from no_such_table_here'));
    expect((error as { code?: string }).code).toBe('42P01');
    expect(isDatabaseGone(error)).toBe(false);
    expect(toClientError(error).status).toBe(500);
    expect(isDatabaseGone(new Error('is not currently accepting connections'))).toBe(false);
    expect(isDatabaseGone(null)).toBe(false);
  });
});

/** Until the server shows the session's query as running. */
async function expectRunning(pid: number): Promise<void> {
  for (;;) {
    const { rows } = await admin.query<{ state: string }>(
      'select state from pg_stat_activity where pid = $1',
      [pid],
    );
    if (rows[0]?.state === 'active') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
