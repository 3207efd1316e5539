import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';
import { postgresDir } from './postgres-process.js';
import { stopChild } from './processes.js';

/** A PostgreSQL primary and its streaming standby, both the test's own processes. */
export interface PgStandbyPair {
  /** `postgres` on the primary, as role `postgres` (trust). */
  primaryUrl: string;
  /** `postgres` on the standby (read-only, hot standby). */
  standbyUrl: string;
  /** Runs one statement on the primary or the standby, on a connection of its own. */
  query<Row extends Record<string, unknown>>(
    on: 'primary' | 'standby',
    text: string,
    values?: unknown[],
  ): Promise<Row[]>;
  /** Stops both servers and removes their directories. */
  stop(): Promise<void>;
}

const until = async (what: string, check: () => Promise<boolean>) => {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
};

/**
 * Starts a primary (initdb, wal_level=replica, replication allowed from 127.0.0.1 with trust)
 * and a standby made from it with `pg_basebackup -R`, on free ports in a temporary directory;
 * returns once the standby is in recovery and streaming. Every binary comes from one
 * directory, so pg_basebackup matches the server's major version. As root, both run as the
 * `postgres` user, as PostgreSQL requires.
 */
export async function startPgStandby(): Promise<PgStandbyPair> {
  const server = postgresDir('llm-backend-pg-standby-');
  const { dir, run } = server;
  const children: ChildProcess[] = [];
  const stopAll = async () => {
    // Standby first, so it does not log the primary going away; SIGINT: fast shutdown.
    for (const child of children.reverse()) await stopChild(child, 'SIGINT');
    server.remove();
  };
  try {
    const hbaFile = join(dir, 'pg_hba.conf');
    writeFileSync(
      hbaFile,
      'local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n',
    );
    server.own(hbaFile);
    const start = async (data: string, port: number, ready?: RegExp) => {
      const settings = {
        hba_file: hbaFile,
        wal_level: 'replica',
        max_wal_senders: '5',
        hot_standby: 'on',
        max_connections: '100',
      };
      children.push(await server.start(data, port, settings, ready));
    };
    const [primaryPort, standbyPort] = [await freePort(), await freePort()];
    const primaryData = server.initdb('primary');
    await start(primaryData, primaryPort);
    const standbyData = join(dir, 'standby');
    // -R writes standby.signal and primary_conninfo; -X stream copies the WAL it needs.
    run('pg_basebackup', [
      ...['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres'],
      ...['-D', standbyData, '-R', '-X', 'stream', '-c', 'fast', '--no-sync'],
    ]);
    await start(standbyData, standbyPort, /ready to accept read-only connections/);
    const url = (port: number) => `postgres://postgres@127.0.0.1:${port}/postgres`;
    const pair: PgStandbyPair = {
      primaryUrl: url(primaryPort),
      standbyUrl: url(standbyPort),
      async query(on, text, values) {
        const client = new pg.Client({
          connectionString: on === 'primary' ? url(primaryPort) : url(standbyPort),
        });
        await client.connect();
        try {
          return (await client.query(text, values)).rows;
        } finally {
          await client.end();
        }
      },
      stop: stopAll,
    };
    await until('the standby is in recovery and streaming', async () => {
      const [row] = await pair.query<{ recovering: boolean; status: string | null }>(
        'standby',
        'select pg_is_in_recovery() as recovering, (select status from pg_stat_wal_receiver) as status',
      );
      return row?.recovering === true && row.status === 'streaming';
    });
    return pair;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Polls `check` until it holds, for up to a minute; for what replication makes true later. */
export const eventually = until;
