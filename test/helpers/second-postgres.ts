import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  postgresBin,
  postgresUser,
  startUntil,
  stopChild,
  traversable,
} from './tls-servers.js';

/** A PostgreSQL server of the test's own: a second server for tenants to live on. */
export interface SecondPostgres {
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  stop(): Promise<void>;
}

/**
 * initdb into a temporary directory and a server on a free port (trust authentication, user
 * `postgres`; as root, it runs as the `postgres` user), stopped and removed by `stop()`.
 */
export async function startSecondPostgres(): Promise<SecondPostgres> {
  const bin = postgresBin();
  if (bin === null)
    throw new Error(
      'No PostgreSQL server binaries (initdb, postgres) found: set TEST_POSTGRES_BIN to their directory',
    );
  const port = await freePort();
  const user = postgresUser();
  const dir = mkdtempSync(join(tmpdir(), 'llm-backend-pg-second-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  if (user !== null) {
    traversable(dir);
    chownSync(dir, user.uid, user.gid);
  }
  const asPostgres = (command: string, args: string[]) =>
    user === null
      ? { command, args }
      : {
          command: 'setpriv',
          args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', command, ...args],
        };
  const data = join(dir, 'data');
  const initdb = asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust']);
  try {
    execFileSync(initdb.command, initdb.args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? '' },
    });
  } catch (error) {
    remove();
    throw error;
  }
  const settings = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: dir,
    fsync: 'off',
    max_connections: '200',
  };
  const postgres = asPostgres(join(bin, 'postgres'), [
    '-D',
    data,
    ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ]);
  const child = await startUntil(
    postgres.command,
    postgres.args,
    /database system is ready to accept connections/,
    remove,
  );
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      // SIGINT: PostgreSQL's fast shutdown, which does not wait for clients to leave.
      await stopChild(child, 'SIGINT');
      remove();
    },
  };
}
